"""Stand-in for apport (Ubuntu's crash reporter, not in Debian): enough for subiquity's
error reporter to write a crash report file under the output base's var/crash."""


class Report(dict):
    def __init__(self, type: str = "Crash", date: str | None = None) -> None:
        super().__init__(ProblemType=type, Date=date or "")

    def add_proc_info(self, *args, **kwargs) -> None:
        # Keys the real one adds and subiquity deletes again.
        self["ExecutableTimestamp"] = ""
        self["ProcMaps"] = ""

    def add_os_info(self, *args, **kwargs) -> None:
        pass

    def add_hooks_info(self, *args, **kwargs) -> None:
        pass

    def write(self, file) -> None:
        for key, value in self.items():
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            lines = text.splitlines() or [""]
            if len(lines) == 1:
                file.write(f"{key}: {lines[0]}\n".encode())
            else:
                file.write(f"{key}:\n".encode() + "".join(f" {ln}\n" for ln in lines).encode())

    def load(self, file, binary: bool = True) -> None:
        key = None
        for raw in file:
            line = raw.decode(errors="replace").rstrip("\n")
            if line.startswith(" ") and key:
                self[key] = (self[key] + "\n" if self[key] else "") + line[1:]
            elif ":" in line:
                key, _, value = line.partition(":")
                self[key] = value.strip()
