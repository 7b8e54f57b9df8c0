"""A checked config.json read as objects: schema.py's table gives each object its members.

spec.validate checks the JSON (schema.check_config, then the rules in spec.py) and returns a
Config; the runtime, the init and exec read its members as attributes. No imports: `start` and
`delete` read the copy saved with the state through Config as plain JSON, and pay for the schema
table only if they read a member as an attribute.
"""


class View:
    """A checked JSON object read through its schema: each member the table names is an
    attribute. An absent member reads as what absent means: an empty View for an object, () for
    an array, {} for a map, None for a scalar; so no reader needs `.get(...) or {}`. A name the
    table lacks is an AttributeError, as a typo should be. Members that are Python keywords
    (ioPriority's "class") read with getattr(). `raw` is the JSON object itself.

    One class for every object, building its children on access: cheaper to import and to make
    than a class per object type."""

    __slots__ = ("raw", "_fields")

    def __init__(self, raw, schema):
        self.raw = raw
        self._fields = schema[1]

    def __getattr__(self, name):
        try:
            sub = self._fields[name]
        except KeyError:
            raise AttributeError(name) from None
        return view(self.raw.get(name), sub)

    def __contains__(self, name):
        """Whether the config gave this member (absent and null are the same)."""
        return name in self.raw

    def __bool__(self):
        return bool(self.raw)

    def __repr__(self):
        return f"View({self.raw!r})"


def view(value, schema):
    """value (checked against schema, or None when absent) as a reader sees it."""
    if type(schema) is tuple:
        kind = schema[0]
        if kind == "obj":
            return View({} if value is None else value, schema)
        if kind == "arr":
            if value is None:
                return ()
            item = schema[1]
            return [View(v, item) for v in value] if type(item) is tuple and item[0] == "obj" else value
        if kind == "map":
            if value is None:
                return {}
            item = schema[1]
            return {k: View(v, item) for k, v in value.items()} if type(item) is tuple and item[0] == "obj" \
                else value
    return value


class Config(dict):
    """config.json after spec.validate(): the JSON itself, and its parts as objects (the namespaces
    as spec.Namespaces, linux.resources as cgroups.resources.Resources).

    Every member of the spec reads as an attribute (config.process.user.uid,
    config.linux.maskedPaths): a view.View over the checked JSON, absent members empty."""

    __slots__ = ("namespaces", "resources")

    def __getattr__(self, name):  # only for what the slots and dict do not have
        from pybox.runtime.schema import CONFIG
        sub = CONFIG[1].get(name)
        if sub is None:
            raise AttributeError(name)
        return view(self.get(name), sub)

    @classmethod
    def checked_before(cls, data):
        """A config that create checked (the copy kept with the state): attributes, no re-check."""
        return data if isinstance(data, cls) else cls(data)
