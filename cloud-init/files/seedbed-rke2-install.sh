#!/bin/sh
# Written by seedbed: RKE2's install at first boot, from seedbed's artifact mirror.
# Each `step` below is one argv (seedbed quoted every word); the first failing step stops the
# install and leaves its name and the command's last lines in $FAILED for the ready report.
set -u

step() {
    what=$1
    shift
    if ! out=$("$@" 2>&1); then
        printf '%s: %s\n' "$what" "$(printf '%s\n' "$out" | tail -n 3 | tr '\n' ' ')" >"$FAILED"
        printf 'seedbed: rke2 %s failed:\n%s\n' "$what" "$out" >&2
        exit 1
    fi
    [ -z "$out" ] || printf '%s\n' "$out"
}

