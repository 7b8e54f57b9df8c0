"""A small command-line parser for the runc-compatible commands.

click costs about 25 ms and argparse about 7 ms to import; every `create`, `start` and `delete`
pays that, so the OCI commands parse with this instead. It accepts what runc's parser accepts:
`--flag value`, `--flag=value`, `-flag value`, short aliases, repeated options and `--`.

An option spec is a string: names separated by spaces, then an optional marker:
    "--bundle -b ="   takes a value
    "--env -e *"      takes a value, may repeat (collected in a list)
    "--detach -d"     a switch
The destination is the first long name with dashes turned into underscores. Text after " # " is
the option's line in --help.
"""

from pybox.errors import PyboxError


class Option:
    __slots__ = ("names", "dest", "takes_value", "repeat", "help")

    def __init__(self, spec):
        spec, _, self.help = spec.partition(" # ")
        words = spec.split()
        self.repeat = words[-1] == "*"
        self.takes_value = words[-1] in ("=", "*")
        self.names = [w for w in words if w.startswith("-")]
        self.dest = self.names[0].lstrip("-").replace("-", "_")


class Parser:
    def __init__(self, command, options, positionals=(), rest=None, usage="", optional=(),
                 rest_required=False, description=""):
        """positionals: names of required positionals; optional: names of positionals that may be
        left out (None then); rest: name collecting all remaining words, which with rest_required
        are words of ours (at least one, options may come between them), not a container's."""
        self.command = command
        self.options = [Option(s) for s in options]
        self.positionals = list(positionals)
        self.optional = list(optional)
        self.rest = rest
        self.rest_required = rest_required
        self.usage = usage
        self.description = description
        self.by_name = {}
        for opt in self.options:
            for name in opt.names:
                self.by_name[name] = opt
                if name.startswith("--"):
                    self.by_name[name[1:]] = opt  # runc also accepts -bundle

    def defaults(self):
        values = {}
        for opt in self.options:
            values[opt.dest] = [] if opt.repeat else (None if opt.takes_value else False)
        return values

    def parse(self, argv):
        values = self.defaults()
        words = []
        i = 0
        while i < len(argv):
            arg = argv[i]
            i += 1
            if arg == "--":
                words.extend(argv[i:])
                break
            if arg in ("-h", "--help"):
                raise HelpRequested(self.help_text())
            if arg.startswith("-") and len(arg) > 1 and not _is_number(arg):
                name, eq, value = arg.partition("=")
                opt = self.by_name.get(name)
                if opt is None:
                    raise PyboxError(f"{self.command}: unknown option {name}")
                if opt.takes_value:
                    if not eq:
                        if i >= len(argv):
                            raise PyboxError(f"{self.command}: option {name} needs a value")
                        value = argv[i]
                        i += 1
                    if opt.repeat:
                        values[opt.dest].append(value)
                    else:
                        values[opt.dest] = value
                else:
                    values[opt.dest] = _switch_value(name, value) if eq else True
                continue
            words.append(arg)
            if self.rest and not self.rest_required and len(words) >= len(self.positionals):
                words.extend(argv[i:])  # the container's own arguments are not ours to parse
                break
        return values, self._assign(words, values)

    def _assign(self, words, values):
        if len(words) < len(self.positionals):
            missing = self.positionals[len(words)]
            raise PyboxError(f"{self.command}: missing argument <{missing}> (usage: pybox {self.usage})")
        named = self.positionals + self.optional
        if not self.rest and len(words) > len(named):
            raise PyboxError(f"{self.command}: unexpected argument {words[len(named)]!r}")
        if self.rest_required and len(words) <= len(self.positionals):
            raise PyboxError(f"{self.command}: missing argument <{self.rest}> (usage: pybox {self.usage})")
        for name in self.optional:
            values[name] = None
        for name, word in zip(named, words):
            values[name] = word
        if self.rest:
            values[self.rest] = words[len(self.positionals):]
        return values

    def help_text(self):
        lines = [f"usage: pybox {self.usage or self.command}", ""]
        if self.description:
            lines += [self.description, ""]
        lines.append("options:")
        for opt in self.options:
            marker = " VALUE" if opt.takes_value else ""
            names = f"{', '.join(opt.names)}{marker}"
            lines.append(f"  {names:24} {opt.help}".rstrip() if opt.help else f"  {names}")
        return "\n".join(lines)


class HelpRequested(Exception):
    pass


def _is_number(arg):
    return arg[1:].isdigit()  # `kill ID -9` style signal numbers are words, not options


def _switch_value(name, value):
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise PyboxError(f"option {name} takes true or false, not {value!r}")
