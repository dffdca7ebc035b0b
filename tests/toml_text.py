"""TOML text of a value, for the tests that write hostile manifests (no TOML writer is a dependency)."""
import json
import math


def toml_value(v):
    """A TOML value: booleans, integers, floats (nan, inf, -inf), strings (JSON's escapes are TOML's),
    arrays and inline tables."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[%s]" % ", ".join(toml_value(x) for x in v)
    if isinstance(v, dict):
        return "{%s}" % ", ".join("%s = %s" % (k, toml_value(x)) for k, x in v.items())
    raise TypeError(v)
