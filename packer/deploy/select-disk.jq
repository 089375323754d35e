# Pick the ONE disk a node's selector matches, with subiquity's `match:` semantics:
# serial/model/vendor/path are shell globs, ssd matches non-rotational disks, and
# size (largest|smallest) picks among the matches. No unique disk: an error.
# Input:  lsblk -J -b -d -o PATH,NAME,TYPE,SIZE,ROTA,RO,SERIAL,MODEL,VENDOR
# Args:   $sel (the selector object), $resolved (sel.path with symlinks resolved, or "")
# Output: {"disk": PATH} or {"error": WHY}
def trimmed: (. // "") | tostring | gsub("^\\s+|\\s+$"; "");
def glob($pattern):
  test("^" + ($pattern | gsub("(?<c>[.+^${}()|\\[\\]\\\\])"; "\\\(.c)")
                       | gsub("\\*"; ".*") | gsub("\\?"; ".")) + "$");
def truthy: . == true or . == 1 or . == "1";
def describe: "\(.path) (\(.size) bytes, serial \(.serial | trimmed), model \(.model | trimmed))";

[.blockdevices[]
 | select(.type == "disk" and (.size // 0) > 0 and ((.ro | truthy) | not)
          and ((.name | test("^(zram|ram|loop)")) | not))] as $disks
| [$disks[]
   | select($sel.serial == null or (.serial | trimmed | glob($sel.serial)))
   | select($sel.model == null or (.model | trimmed | glob($sel.model)))
   | select($sel.vendor == null or (.vendor | trimmed | glob($sel.vendor)))
   | select($sel.path == null or (.path | glob($sel.path)) or .path == $resolved)
   | select($sel.ssd == null or ((.rota | truthy) != $sel.ssd))] as $found
| (if ($found | length) == 0 or $sel.size == null then $found
   else ($found | map(.size) | if $sel.size == "largest" then max else min end) as $pick
        | [$found[] | select(.size == $pick)]
   end) as $picked
| if ($picked | length) == 1 then {disk: $picked[0].path}
  elif ($found | length) == 0 then
    {error: "no disk matches the selector \($sel | tojson); disks: \([$disks[] | describe] | join("; "))"}
  else
    {error: "the selector \($sel | tojson) matches \($picked | length) disks, not one: \([$picked[] | describe] | join("; "))"}
  end
