"""A page's text and what is extracted from it: title, description, absolute links
(resolved against ``<base href>``) and ``--field`` CSS selectors with Scrapy's ``::text`` and
``::attr(name)``. Parsed with selectolax's Lexbor parser."""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([-\w.:]+)""", re.I)
_HEADER_CHARSET = re.compile(r"charset\s*=\s*[\"']?([-\w.:]+)", re.I)
_PSEUDO = re.compile(r"::(text|attr\(\s*([-\w:]+)\s*\))\s*$")
HTML_TYPES = ("text/html", "application/xhtml+xml")
_NOT_FETCHED = ("javascript:", "mailto:", "tel:", "data:")  # links never followed


class FieldError(ValueError):
    """A field (``--field``, ``fields=``) that cannot be used: the message names it."""


@dataclass(frozen=True)
class Field:
    """``NAME=SELECTOR``: a CSS selector, then ``::text``, ``::attr(x)`` or (none) the HTML."""

    name: str
    css: str
    take: str  # "text", "html" or "attr"
    attr: str = ""

    @classmethod
    def parse(cls, spec: str, given_as: str = "--field") -> Field:
        """``spec`` parsed; a FieldError names it as the caller took it: ``--field`` (the
        command line's flag) or ``fields=`` (the library's option)."""
        label = f"{given_as} {spec!r}" if given_as.startswith("-") else \
            f"{given_as} item {spec!r}"
        example = "price='.price::text'" if given_as.startswith("-") else \
            "'price=.price::text'"
        name, sep, selector = spec.partition("=")
        if not sep or not name.strip() or not selector.strip():
            raise FieldError(f"{label} must be NAME=SELECTOR, e.g. {example}")
        selector = selector.strip()
        match = _PSEUDO.search(selector)
        css = selector[:match.start()] if match else selector
        take = "html" if not match else "attr" if match.group(2) else "text"
        field = cls(name.strip(), css.strip() or "*", take, match.group(2) if match else "")
        try:
            LexborHTMLParser("<p></p>").css(field.css)
        except Exception as exc:
            raise FieldError(f"{label}: invalid CSS selector ({exc})") from None
        return field


def is_html(content_type: str) -> bool:
    return content_type.split(";")[0].strip().lower() in HTML_TYPES or not content_type


def decode(body: bytes, content_type: str) -> str:
    """The body as text: by the HTTP charset, then ``<meta charset>``, then UTF-8 if it
    decodes, else windows-1252 (which decodes anything, as browsers fall back to)."""
    source = markup(body, content_type)
    return source if isinstance(source, str) else source.decode("utf-8")


def markup(body: bytes, content_type: str) -> bytes | str:
    """What the parser reads: the body itself when it is UTF-8 (or ASCII under an
    ASCII-compatible charset), which Lexbor reads as is, else the body decoded as
    ``decode`` says. Decoding a UTF-8 page only for the parser to encode it again costs
    about a fifth of its parse."""
    codec = _declared(body, content_type)
    if codec is None or codec == "utf-8":
        if body.isascii():
            return body
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return body.decode("utf-8" if codec else "cp1252", "replace")
        return body
    if body.isascii() and not codec.startswith("utf-"):
        return body
    return body.decode(codec, "replace")


def _declared(body: bytes, content_type: str) -> str | None:
    """The codec the HTTP charset, or else ``<meta charset>``, names (one Python knows)."""
    for found in (_HEADER_CHARSET.search(content_type), _META_CHARSET.search(body[:4096])):
        if found:
            name = found.group(1)
            name = name.decode("ascii", "replace") if isinstance(name, bytes) else name
            try:
                codec = codecs.lookup(name).name
            except LookupError:
                continue
            # as browsers do: windows-1252 for "iso-8859-1", the superset
            return "cp1252" if codec == "latin-1" else codec
    return None


def extract(html: bytes | str, url: str, fields: tuple[Field, ...] = (), text: bool = False
            ) -> dict[str, Any]:
    """title, description, links (absolute, fragment-less, first occurrence order), the
    fields, and the visible text if asked. ``html``: text, or UTF-8 bytes (``markup``)."""
    tree = LexborHTMLParser(html)
    # tags() walks the tree without a CSS engine: the few lookups every page gets
    title = next((node.text(strip=True) for node in tree.tags("title")), None)
    description = next(((node.attributes.get("content") or "").strip()
                        for node in tree.tags("meta")
                        if (node.attributes.get("name") or "").lower() == "description"), None)
    base_href = next((href for node in tree.tags("base")
                      if (href := node.attributes.get("href")) is not None), None)
    resolve = _resolver(urljoin(url, base_href) if base_href is not None else url)
    links: dict[str, None] = {}
    for anchor in tree.tags("a"):
        href = anchor.attributes.get("href")
        if href is None:
            continue
        href = href.strip()
        if not href or ":" in href[:11] and href.lower().startswith(_NOT_FETCHED):
            continue
        links[resolve(href)] = None
    record: dict[str, Any] = {"title": title, "description": description,
                              "links": list(links)}
    if text:
        body = tree.body
        record["text"] = body.text(separator=" ", strip=True) if body else ""
    for field in fields:
        record[field.name] = _select(tree, field)
    return record



def _resolver(base: str) -> Callable[[str], str]:
    """``href`` to an absolute URL without fragment, as ``urljoin`` would; the common shapes
    (a path from the root, or absolute, without dot segments) without it: ``urljoin`` costs
    ~5 us, a tenth of a page's parse for every 40 links."""
    parts = urlsplit(base)
    origin = f"{parts.scheme}://{parts.netloc}"

    def resolve(href: str) -> str:
        if "#" in href:
            href = href.partition("#")[0]
        if "/." not in href:
            if href[:1] == "/" and href[1:2] != "/":
                return origin + href
            if href.startswith(("http://", "https://")):
                return href
        return urldefrag(urljoin(base, href))[0]

    return resolve


def _select(tree: LexborHTMLParser, field: Field) -> Any:
    values = []
    for node in tree.css(field.css):
        if field.take == "text":
            values.append(node.text(strip=True))
        elif field.take == "attr":
            value = node.attributes.get(field.attr)
            if value is not None:
                values.append(value)
        else:
            values.append(node.html)
    return None if not values else values[0] if len(values) == 1 else values
