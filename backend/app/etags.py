"""Entity tags (RFC 9110, section 8.8.3) for incidents, and the If-Match / If-None-Match headers that name them.

An incident's ETag is its version, quoted: `"3"`. It is strong: two answers with the same tag are the same
incident byte for byte.

    If-Match      = "*" / #entity-tag
    If-None-Match = "*" / #entity-tag
    entity-tag    = [ "W/" ] DQUOTE *etagc DQUOTE        etagc = %x21 / %x23-7E / obs-text

A list (comma-separated, also as several header lines) is legal and matches when any of its tags does; empty
list elements are allowed. If-Match compares strongly (a `W/` tag never matches), If-None-Match weakly. A value
that does not follow the grammar is refused (422) rather than taken as "no condition".
"""

import re
from dataclasses import dataclass

# One list element: an entity tag, or nothing (an empty element of a #list), then a comma or the end. A comma may
# occur inside a tag (etagc includes it), so the value is scanned rather than split.
_ELEMENT = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(,|$)')


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True)
class EntityTags:
    """A parsed If-Match / If-None-Match: `*`, or the tags it lists, each as (weak, opaque value)."""

    any: bool
    tags: tuple[tuple[bool, str], ...] = ()

    def matches_strongly(self, version: int) -> bool:
        """If-Match: `*`, or a strong tag that is the version's."""
        return self.any or (False, str(version)) in self.tags

    def matches_weakly(self, version: int) -> bool:
        """If-None-Match: `*`, or a tag, weak or strong, whose value is the version's."""
        return self.any or any(value == str(version) for _weak, value in self.tags)


def parse_entity_tags(value: str) -> EntityTags:
    """The header's value (several header lines joined with commas), or ValueError if it breaks the grammar."""
    if value.strip(" \t") == "*":
        return EntityTags(any=True)
    tags = []
    position = 0
    while position < len(value):
        match = _ELEMENT.match(value, position)
        if match is None or match.end() == position:
            raise ValueError('expected "*" or a comma-separated list of entity tags such as "3" or W/"3"')
        if match.group(2) is not None:
            tags.append((match.group(1) is not None, match.group(2)))
        position = match.end()
    if not tags:
        raise ValueError("expected at least one entity tag")
    return EntityTags(any=False, tags=tuple(tags))
