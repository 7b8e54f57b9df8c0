"""Go's text/template, the part docker users write in `--format` (`inspect -f`, `ps --format`).

Actions: {{.A.B}}, {{$}}, {{$x := PIPE}}, {{$x = PIPE}}, pipelines with `|`, parentheses,
{{if}}/{{else if}}/{{else}}/{{end}}, {{range [$i, $e :=] PIPE}}...{{else}}...{{end}}, {{with}},
{{break}}/{{continue}}, comments {{/* */}}, and the trim markers {{- and -}}.
Functions: Go's (and or not eq ne lt le gt ge len index slice print printf println) and docker's
(json join split upper lower title truncate pad). Values print as Go's %v prints them.

No library does this well in Python (PyPI has a young CGo wrapper and Jinja2, whose syntax differs),
so this is a small evaluator; it imports only pybox.errors and, for `json`, pybox.jsonio.
Fields are dict keys; a value that is callable is called with the action's arguments
(docker's `{{.Label "k"}}`).
"""

from pybox.errors import PyboxError


class TemplateError(PyboxError):
    pass


def render(template, data, funcs=None):
    """The text `template` makes of `data`."""
    nodes = _Parser(template).parse()
    out = []
    _Exec(data, funcs or {}, template).run(nodes, data, [{"$": data}], out)
    return "".join(out)


def parse(template):
    """Only checks the syntax (raises TemplateError)."""
    _Parser(template).parse()


# --- lexing -------------------------------------------------------------------------------------

def _split(template):
    """[(kind, text, offset)]: kind "text" or "action" (the inside of {{ }}, trims applied)."""
    parts = []
    i = 0
    while True:
        start = template.find("{{", i)
        if start < 0:
            parts.append(["text", template[i:], i])
            break
        parts.append(["text", template[i:start], i])
        inner = start + 2
        trim_left = template.startswith("- ", inner) or template.startswith("-\t", inner) or \
            template.startswith("-\n", inner)
        if trim_left:
            inner += 2
            parts[-1][1] = parts[-1][1].rstrip(" \t\r\n")
        end = _action_end(template, inner, start)
        body = template[inner:end]
        trim_right = False
        if body.endswith((" -", "\t-", "\n-")):
            trim_right = True
            body = body[:-2]
        parts.append(["action", body, start])
        i = end + 2
        if trim_right:
            while i < len(template) and template[i] in " \t\r\n":
                i += 1
    return [p for p in parts if p[0] == "action" or p[1]]


def _action_end(template, i, start):
    quote = None
    while i < len(template):
        c = template[i]
        if quote:
            if c == "\\" and quote != "`":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in "\"'`":
            quote = c
        elif template.startswith("/*", i):
            close = template.find("*/", i + 2)
            if close < 0:
                break
            i = close + 2
            continue
        elif template.startswith("}}", i):
            return i
        i += 1
    raise TemplateError(f"template: unclosed action at offset {start}: {template[start:start + 30]!r}")


_PUNCT = ("(", ")", "|", ",")


def _tokens(body, where):
    out = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c in " \t\r\n":
            i += 1
        elif body.startswith(":=", i):
            out.append(("op", ":="))
            i += 2
        elif c == "=":
            out.append(("op", "="))
            i += 1
        elif c in _PUNCT:
            out.append(("op", c))
            i += 1
        elif c == '"':
            j = i + 1
            while j < n and body[j] != '"':
                j += 2 if body[j] == "\\" else 1
            if j >= n:
                raise TemplateError(f"template: unterminated string in {where!r}")
            out.append(("const", _unquote(body[i:j + 1], where)))
            i = j + 1
        elif c == "`":
            j = body.find("`", i + 1)
            if j < 0:
                raise TemplateError(f"template: unterminated raw string in {where!r}")
            out.append(("const", body[i + 1:j]))
            i = j + 1
        elif c == "'":
            j = body.find("'", i + 1)
            if j < 0:
                raise TemplateError(f"template: unterminated character in {where!r}")
            out.append(("const", ord(_unquote('"' + body[i + 1:j] + '"', where))))
            i = j + 1
        else:
            j = i
            while j < n and body[j] not in " \t\r\n()|,=\"`" and not body.startswith(":=", j):
                j += 1
            word = body[i:j]
            i = j
            out.append(_word(word, where))
    return out


def _unquote(text, where):
    import ast
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise TemplateError(f"template: bad string {text} in {where!r}") from None


def _word(word, where):
    if word.startswith("."):
        if word == ".":
            return ("dot", [])
        return ("field", [f for f in word[1:].split(".")])
    if word.startswith("$"):
        name, _, rest = word.partition(".")
        return ("var", name, rest.split(".") if rest else [])
    if word in ("true", "false"):
        return ("const", word == "true")
    if word == "nil":
        return ("const", None)
    if word[0].isdigit() or (word[0] in "+-" and len(word) > 1):
        try:
            return ("const", int(word, 0))
        except ValueError:
            try:
                return ("const", float(word))
            except ValueError:
                raise TemplateError(f"template: bad number {word!r} in {where!r}") from None
    if word.isidentifier():
        return ("ident", word)
    raise TemplateError(f"template: unexpected {word!r} in {where!r}")


# --- parsing ------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, template):
        self.template = template
        self.parts = _split(template)
        self.pos = 0

    def parse(self):
        nodes, stop = self.list_until(())
        if stop is not None:
            raise TemplateError(f"template: unexpected {{{{{stop[0]}}}}}")
        return nodes

    def list_until(self, stops):
        """Nodes up to an action whose keyword is in stops; returns (nodes, (keyword, body)|None)."""
        nodes = []
        while self.pos < len(self.parts):
            kind, text, _ = self.parts[self.pos]
            self.pos += 1
            if kind == "text":
                nodes.append(("text", text))
                continue
            body = text.strip()
            if body.startswith("/*"):
                continue
            keyword, _, rest = body.partition(" ")
            if keyword in ("end", "else"):
                if keyword not in stops:
                    raise TemplateError(f"template: unexpected {{{{{body}}}}}")
                return nodes, (keyword, rest.strip())
            if keyword in ("if", "with", "range"):
                nodes.append(self.block(keyword, rest.strip()))
            elif keyword in ("break", "continue") and not rest.strip():
                nodes.append((keyword,))
            elif keyword in ("define", "template", "block"):
                raise TemplateError(f"template: {{{{{keyword}}}}} is not supported")
            else:
                nodes.append(("action", self.pipeline(body)))
        if stops:
            raise TemplateError("template: missing {{end}}")
        return nodes, None

    def block(self, keyword, rest):
        if not rest:
            raise TemplateError(f"template: {{{{{keyword}}}}} needs a pipeline")
        pipe = self.pipeline(rest)
        body, stop = self.list_until(("end", "else"))
        other = []
        if stop[0] == "else":
            if stop[1]:
                # {{else if X}} / {{else with X}}: a nested block that shares our {{end}}
                word, _, more = stop[1].partition(" ")
                if word not in ("if", "with") or keyword == "range" and word != "if":
                    raise TemplateError(f"template: unexpected {{{{else {stop[1]}}}}}")
                other = [self.block(word, more.strip())]
                return (keyword, pipe, body, other)
            other, stop = self.list_until(("end",))
        return (keyword, pipe, body, other)

    def pipeline(self, body):
        tokens = _tokens(body, body)
        decl = []
        assign = None
        # $x := ...   $i, $e := ...   $x = ...
        j = 0
        names = []
        while j < len(tokens) and tokens[j][0] == "var" and not tokens[j][2]:
            names.append(tokens[j][1])
            if j + 1 < len(tokens) and tokens[j + 1] == ("op", ","):
                j += 2
                continue
            j += 1
            break
        if names and j < len(tokens) and tokens[j][0] == "op" and tokens[j][1] in (":=", "="):
            decl = names
            assign = tokens[j][1]
            tokens = tokens[j + 1:]
        cmds, rest = self.commands(tokens, body)
        if rest:
            raise TemplateError(f"template: unexpected {rest[0][1]!r} in {body!r}")
        if not cmds:
            raise TemplateError(f"template: empty pipeline in {{{{{body}}}}}")
        return ("pipe", decl, assign, cmds, body)

    def commands(self, tokens, body):
        cmds = [[]]
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == ("op", "|"):
                if not cmds[-1]:
                    raise TemplateError(f"template: missing command before '|' in {body!r}")
                cmds.append([])
                i += 1
            elif tok == ("op", ")"):
                break
            elif tok == ("op", "("):
                inner, rest = self.commands(tokens[i + 1:], body)
                if not rest or rest[0] != ("op", ")"):
                    raise TemplateError(f"template: unclosed '(' in {body!r}")
                i = len(tokens) - len(rest) + 1
                node = ("sub", ("pipe", [], None, inner, body))
                # (x).Field: a field right after ')' is taken as its chain (tokens lose spacing)
                if i < len(tokens) and tokens[i][0] == "field":
                    node = ("chain", node, tokens[i][1])
                    i += 1
                cmds[-1].append(node)
            elif tok[0] == "op":
                raise TemplateError(f"template: unexpected {tok[1]!r} in {body!r}")
            else:
                cmds[-1].append(tok)
                i += 1
        if cmds == [[]]:
            cmds = []
        elif not cmds[-1]:
            raise TemplateError(f"template: missing command after '|' in {body!r}")
        return cmds, tokens[i:]


# --- executing ----------------------------------------------------------------------------------

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Exec:
    def __init__(self, root, funcs, template):
        self.funcs = dict(FUNCS)
        self.funcs.update(funcs)
        self.template = template

    def run(self, nodes, dot, scopes, out):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                value = self.pipe(node[1], dot, scopes)
                if not node[1][1]:  # a declaration prints nothing
                    out.append(show(value))
            elif kind == "break":
                raise _Break()
            elif kind == "continue":
                raise _Continue()
            else:
                self.block(node, dot, scopes, out)

    def block(self, node, dot, scopes, out):
        keyword, pipe, body, other = node
        scopes = scopes + [{}]
        if keyword == "range":
            value = self.pipe(pipe, dot, scopes, declare=False)
            items = _items(value, pipe[4])
            if not items:
                self.run(other, dot, scopes, out)
                return
            names = pipe[1]
            for key, item in items:
                inner = scopes + [{}]
                if len(names) == 1:
                    inner[-1][names[0]] = item
                elif len(names) == 2:
                    inner[-1][names[0]] = key
                    inner[-1][names[1]] = item
                try:
                    self.run(body, item, inner, out)
                except _Break:
                    break
                except _Continue:
                    continue
            return
        value = self.pipe(pipe, dot, scopes)
        if truth(value):
            self.run(body, value if keyword == "with" else dot, scopes, out)
        else:
            self.run(other, dot, scopes, out)

    def pipe(self, pipe, dot, scopes, declare=True):
        _, names, assign, cmds, body = pipe
        value = _MISSING
        for cmd in cmds:
            value = self.command(cmd, dot, scopes, value, body)
        if names and declare:
            if assign == ":=":
                scopes[-1][names[0]] = value
            else:
                for scope in reversed(scopes):
                    if names[0] in scope:
                        scope[names[0]] = value
                        break
                else:
                    raise TemplateError(f"template: undefined variable {names[0]} in {{{{{body}}}}}")
        return value

    def command(self, cmd, dot, scopes, piped, body):
        first = cmd[0]
        if first[0] == "ident":
            fn = self.funcs.get(first[1])
            if fn is None:
                raise TemplateError(f'template: function "{first[1]}" not defined')
            args = [self.arg(a, dot, scopes, body) for a in cmd[1:]]
            if piped is not _MISSING:
                args.append(piped)
            try:
                return fn(*args)
            except TemplateError:
                raise
            except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
                raise TemplateError(f"template: error calling {first[1]} in {{{{{body}}}}}: {err}") from None
        args = [self.arg(a, dot, scopes, body) for a in cmd[1:]]
        if piped is not _MISSING:
            args.append(piped)
        value = self.arg(first, dot, scopes, body, call=True)
        if callable(value):
            return value(*args)
        if args:
            raise TemplateError(f"template: {{{{{body}}}}}: can't give arguments to a non-function")
        return value

    def arg(self, tok, dot, scopes, body, call=False):
        kind = tok[0]
        if kind == "const":
            return tok[1]
        if kind == "dot":
            return dot
        if kind == "field":
            return self.fields(dot, tok[1], body)
        if kind == "var":
            for scope in reversed(scopes):
                if tok[1] in scope:
                    return self.fields(scope[tok[1]], tok[2], body)
            raise TemplateError(f"template: undefined variable {tok[1]} in {{{{{body}}}}}")
        if kind == "sub":
            return self.pipe(tok[1], dot, scopes, declare=False)
        if kind == "chain":
            return self.fields(self.arg(tok[1], dot, scopes, body), tok[2], body)
        if kind == "ident":
            fn = self.funcs.get(tok[1])
            if fn is None:
                raise TemplateError(f'template: function "{tok[1]}" not defined')
            return fn()
        raise TemplateError(f"template: unexpected {tok!r}")

    def fields(self, value, names, body):
        for name in names:
            if hasattr(value, "field") and callable(value.field):
                value = value.field(name)
                continue
            if isinstance(value, dict):
                if name in value:
                    value = value[name]
                    continue
                if getattr(value, "open", False):  # a map: Go prints "<no value>"
                    value = None
                    continue
            shown = type(value).__name__ if not isinstance(value, dict) else "this object"
            raise TemplateError(f"template: {{{{{body}}}}}: can't evaluate field {name} in {shown}")
        return value


_MISSING = object()


class Map(dict):
    """A dict that, like Go's maps, gives <no value> for a missing key instead of an error."""
    open = True


def _items(value, body):
    if value is None:
        return []
    if isinstance(value, dict):
        return [(k, value[k]) for k in sorted(value)]
    if isinstance(value, (list, tuple)):
        return list(enumerate(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return [(i, i) for i in range(value)]
    raise TemplateError(f"template: range can't iterate over {show(value)} in {{{{{body}}}}}")


def truth(value):
    if value is None or value is False:
        return False
    if isinstance(value, (int, float, str, list, tuple, dict)):
        return bool(value)
    return True


def show(value):
    """Go's %v."""
    if value is None:
        return "<no value>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_inner(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{_inner(k)}:{_inner(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _inner(value):
    return "<nil>" if value is None else show(value)


# --- functions ----------------------------------------------------------------------------------

def _json(value):
    from pybox import jsonio
    return jsonio.dumps(value)


def _index(value, *keys):
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key, "")
        elif isinstance(value, (list, tuple, str)):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"template: error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"template: error calling index: can't index item of type "
                                f"{type(value).__name__}")
    return value


def _slice(value, *bounds):
    if len(bounds) > 2:
        raise TemplateError("template: error calling slice: too many indexes")
    return value[slice(*bounds)]


def _len(value):
    if value is None:
        raise TemplateError("template: error calling len: len of nil pointer")
    return len(value)


def _printf(fmt, *args):
    """Go's verbs %v %s %d %q %t %x %f and widths, through Python's % where they agree."""
    out = []
    i = 0
    n = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-+# 0123456789.":
            j += 1
        if j >= len(fmt):
            out.append(fmt[i:])
            break
        flags, verb = fmt[i + 1:j], fmt[j]
        i = j + 1
        if verb == "%":
            out.append("%")
            continue
        if n >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[n]
        n += 1
        if verb in "vs":
            out.append(("%" + flags + "s") % show(arg))
        elif verb == "q":
            out.append(("%" + flags + "s") % _json(show(arg) if not isinstance(arg, str) else arg))
        elif verb == "t":
            out.append(show(bool(arg)))
        elif verb in "dxXobfeEgG" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            out.append(("%" + flags + verb) % (arg if verb in "feEgG" else int(arg)))
        else:
            out.append(f"%!{verb}({type(arg).__name__}={show(arg)})")
    return "".join(out)


def _print(*args):
    # Go's Sprint: a space between operands when neither is a string
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(show(a))
    return "".join(out)


def _cmp(op):
    def compare(a, b):
        if isinstance(a, bool) != isinstance(b, bool) or isinstance(a, str) != isinstance(b, str):
            raise TemplateError("template: error calling comparison: incompatible types for comparison")
        return op(a, b)
    return compare


def _eq(a, *others):
    if not others:
        raise TemplateError("template: error calling eq: missing argument for comparison")
    return any(a == b for b in others)


def _and(*args):
    for a in args:
        if not truth(a):
            return a
    return args[-1]


def _or(*args):
    for a in args:
        if truth(a):
            return a
    return args[-1]


def _join(items, sep):
    return sep.join(show(i) for i in items or [])


def _truncate(text, width):
    return show(text)[:width]


def _pad(text, left, right):
    return " " * left + show(text) + " " * right


FUNCS = {
    "json": _json, "index": _index, "slice": _slice, "len": _len, "printf": _printf,
    "print": _print, "println": lambda *a: " ".join(show(x) for x in a) + "\n",
    "eq": _eq, "ne": lambda a, b: a != b, "lt": _cmp(lambda a, b: a < b), "le": _cmp(lambda a, b: a <= b),
    "gt": _cmp(lambda a, b: a > b), "ge": _cmp(lambda a, b: a >= b),
    "and": _and, "or": _or, "not": lambda a: not truth(a),
    "join": _join, "split": lambda s, sep: s.split(sep), "upper": lambda s: show(s).upper(),
    "lower": lambda s: show(s).lower(), "title": lambda s: show(s).title(),
    "truncate": _truncate, "pad": _pad,
}


def table(template, rows, headers, funcs=None):
    """docker's `table ...` formats: a header row (each {{.Field}} replaced by headers[Field] or
    its upper case), then each row; cells split at tabs and aligned as Go's tabwriter with
    docker's settings (min width 10, padding 3)."""
    body = template[len("table"):].lstrip(" ") if template.startswith("table") else template
    body = body.replace("\\t", "\t").replace("\\n", "\n")
    nodes = _Parser(body).parse()

    class Title(str):
        def __call__(self, *args):  # {{.Label "k"}} heads its column with LABEL
            return self

    class Header(dict):
        def field(self, name):
            return Title(headers.get(name, name.upper()))

    header = Header()
    lines = []
    for data in [header] + list(rows):
        out = []
        _Exec(data, funcs or {}, body).run(nodes, data, [{"$": data}], out)
        lines.extend("".join(out).split("\n"))
    return _tabwrite(lines)


def _tabwrite(lines):
    cells = [line.split("\t") for line in lines]
    widths = {}
    for row in cells:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + 3, 10)
    return "\n".join("".join(c.ljust(widths[i]) if i < len(row) - 1 else c
                             for i, c in enumerate(row)).rstrip() for row in cells)
