"""XML types: kept so documents that contain them round-trip; not a full XML editing API."""

from __future__ import annotations

from typing import Any

from ..encoding import Encoder
from ..structs import contents as _contents
from ..structs.item import item_value
from .array import Array
from .base import SharedType, plain_value
from .text import Text


class XmlFragment(Array):
    """A list of XML nodes."""

    __slots__ = ()
    _type_ref = 4
    _nests = None

    def to_py(self) -> list:
        return [plain_value(v) for v in self]


class XmlElement(XmlFragment):
    """An XML element: attributes (map keys) and child nodes (list)."""

    __slots__ = ("node_name",)
    _type_ref = 3

    def __init__(self, node_name: str = "UNDEFINED") -> None:
        super().__init__()
        self.node_name = node_name

    def _write_type_ref(self, enc: Encoder) -> None:
        enc.write_var_uint(3)
        enc.write_var_string(self.node_name)

    def _copy_empty(self) -> XmlElement:
        return XmlElement(self.node_name)

    def attributes(self) -> dict[str, Any]:
        return {k: item_value(i) for k, i in self._map.items() if not i.deleted}

    # An element is a fragment (as in Yjs) whose plain form is a dict, not the fragment's list.
    def to_py(self) -> dict:  # type: ignore[override]
        return {"nodeName": self.node_name, "attributes": self.attributes(), "children": super().to_py()}


class XmlText(Text):
    """Text inside an XML tree."""

    __slots__ = ()
    _type_ref = 6


class XmlHook(SharedType):
    """A custom node holding a map of values."""

    __slots__ = ("hook_name",)
    _type_ref = 5

    def __init__(self, hook_name: str = "") -> None:
        super().__init__()
        self.hook_name = hook_name

    def _write_type_ref(self, enc: Encoder) -> None:
        enc.write_var_uint(5)
        enc.write_var_string(self.hook_name)

    def _copy_empty(self) -> XmlHook:
        return XmlHook(self.hook_name)

    def to_py(self) -> dict:
        return {k: plain_value(item_value(i)) for k, i in self._map.items() if not i.deleted}


_contents.TYPE_READERS[3] = lambda dec: XmlElement(dec.read_var_string())
_contents.TYPE_READERS[4] = lambda dec: XmlFragment()
_contents.TYPE_READERS[5] = lambda dec: XmlHook(dec.read_var_string())
_contents.TYPE_READERS[6] = lambda dec: XmlText()
