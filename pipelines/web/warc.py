"""Reading WARC / WET files (plain or gzipped) and plain HTML pages into web documents.

Why our own framing and not a library's iterator (measured in benchmarks/bench_warc.py): the
pipeline needs what neither FastWARC 2.0 nor warcio 1.8 gives. The byte offset of every record
as stored (FastWARC reports the same position for all records of a non-per-record gzip file,
warcio refuses such files); a truncated record as damage (both return the cut record silently
or drop it); a range of a big file read without reading the rest. So records are framed here
with zlib and bytes.find, which keeps every body byte in C code, and decoded by http.py.

Ranges (`can_enter`): an uncompressed WARC, or a gzipped one written a member per record
(as Common Crawl does), is cut into byte ranges; a range [start, end) owns the records whose
offset lies in it. Its reader finds the first record boundary at or after `start` (a gzip
member whose data starts with "WARC/", or a "WARC/x.y" line whose header parses) and reads
records until one starts at or past `end`. A gzip file with several records in a member is
read whole: its members cannot be entered. A record's offset is the start of its gzip member;
the k-th record that starts inside a member (not at its start) gets member start + k, unique
and ordered (members are far longer than the records they could hold).

Damage: a record that cannot be framed (no "WARC/" line, a Content-Length that runs into the
next record or stops short of it, a gzip member whose data is corrupt) is one dead letter, and
reading goes on at the next record boundary. Damage that runs to the end of the file (a
truncated last member or record) ends the range with one dead letter `corrupt warc file after
N records ...` (io.py's convention, counted as a corrupt file). An I/O failure is raised.

The registered readers (`pipelines/readers/warc.py`, `html.py`) call `read_warc`, `read_html`
and `can_enter`; which names are WARC, WET, HTML or refused (ARC, WAT) is said there.
"""
from __future__ import annotations

import datetime as _dt
import re
import zlib
from typing import Iterator
from urllib.parse import urlsplit

from ..document import new_document, stable_id
from ..records import CORRUPT, FileRange, _open, dead_letter, record_key
from . import HTML_TYPES
from .http import HttpError, parse_content_type, parse_response

MAX_WARC_HEADER = 64 << 10   # a WARC header block longer than this is damage
_READ = 1 << 20              # bytes read from the store at a time
_INFLATE = 4 << 20           # bytes inflated at a time (bounds memory on huge members)
_GZIP = b"\x1f\x8b\x08"
_RECORD_START = re.compile(rb"\nWARC/\d+\.\d+\r?\n")
_SEP = b"\r\n\r\n"
_PAD = b"\x00\r\n \t"


class _Damage(Exception):
    """Undecodable gzip data in the member starting at compressed offset `member`."""

    def __init__(self, member: int, detail: str):
        super().__init__(detail)
        self.member = member


class _Stream:
    """The file's decoded bytes from a record boundary on, as a sliding window. Positions are
    "u" (offsets into the decoded bytes; for a plain file the file offset itself). For gzip it
    remembers where each member starts, in decoded and stored bytes."""

    def __init__(self, raw, start: int, gz: bool):
        self.raw, self.gz = raw, gz
        raw.seek(start)
        self.data = bytearray()
        self.base = 0 if gz else start
        self.eof = False
        self.truncated = False          # gzip: the stream ended inside a member
        self.members: list[list] = []   # [u, stored offset, first bytes] per member seen
        self._pending = b""             # stored bytes read, not yet inflated
        self._at = start                # stored offset of _pending[0]
        self._d = None                  # the current member's inflater
        self.damage: _Damage | None = None  # once met, every further read meets it again

    @property
    def end(self) -> int:
        return self.base + len(self.data)

    def fill(self, upto: int) -> bool:
        """Decode until the window reaches `upto`; False when the file ends first."""
        while self.end < upto and not self.eof:
            self._more()
        return self.end >= upto

    def _more(self):
        if self.damage is not None:
            raise self.damage
        if not self.gz:
            chunk = self.raw.read(_READ)
            if chunk:
                self.data += chunk
            else:
                self.eof = True
            return
        if self._d is None:  # a member starts here, or padding, or the end
            while len(self._pending) < 3:
                chunk = self.raw.read(_READ)
                if not chunk:
                    break
                self._pending += chunk
            if not self._pending:
                self.eof = True
                return
            pad = len(self._pending) - len(self._pending.lstrip(_PAD))
            if pad:  # NULs / line ends between or after members (some writers pad)
                self._at += pad
                self._pending = self._pending[pad:]
                return
            if not self._pending.startswith(_GZIP):
                self.damage = _Damage(self._at, "bytes that are not a gzip member")
                raise self.damage
            self._d = zlib.decompressobj(31)
            self.members.append([self.end, self._at, None])
        elif not self._pending:
            self._pending = self.raw.read(_READ)
            if not self._pending:
                self.truncated = self.eof = True  # the file ends inside a member
                return
        d = self._d
        try:
            out = d.decompress(self._pending, _INFLATE)
        except zlib.error as e:
            self.damage = _Damage(self.members[-1][1], f"gzip data error: {e}")
            raise self.damage from None
        rest = d.unused_data if d.eof else d.unconsumed_tail
        self._at += len(self._pending) - len(rest)
        self._pending = rest
        self.data += out
        member = self.members[-1]
        if member[2] is None and (self.end - member[0] >= 8 or d.eof):
            member[2] = bytes(self.get(member[0], min(member[0] + 8, self.end)))
        if d.eof:
            self._d = None

    def get(self, u0: int, u1: int) -> memoryview:
        return memoryview(self.data)[u0 - self.base:u1 - self.base]

    def drop(self, u: int):
        """Forget the window before `u` (bounded memory)."""
        n = u - self.base
        if n > 0:
            del self.data[:n]
            self.base = u

    def skip_to(self, u: int):
        """Move the window's start to `u` without keeping what lies before it."""
        if not self.gz and u > self.end:
            self.data = bytearray()
            self.base = u
            self.raw.seek(u)
            return
        while self.end < u and not self.eof:
            self.drop(self.end)
            self._more()
        self.drop(min(u, self.end))

    def owner(self, u: int) -> tuple[int, int]:
        """(stored offset of the member holding u, u's member start or -1)."""
        for m in reversed(self.members):
            if m[0] <= u:
                return m[1], m[0]
        return self._at, -1

    def next_member_record(self, after: int) -> int | None:
        """Decoded position of the first member after `after` that starts a record."""
        for m in self.members:
            if m[0] > after and m[2] is not None and m[2].lstrip(b"\r\n").startswith(b"WARC/"):
                return m[0]
        return None


def _sniff_gzip(raw) -> bool:
    raw.seek(0)
    return raw.read(3) == _GZIP


def _parse_warc_header(block: bytes) -> dict[str, str] | None:
    """Lower-case WARC header names to values; None when `block` is not a WARC header."""
    lines = block.split(b"\r\n") if b"\r\n" in block else block.split(b"\n")
    if not lines[0].startswith(b"WARC/"):
        return None
    headers: dict[str, str] = {}
    last = None
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and last:
            headers[last] += " " + line.strip().decode("utf-8", "replace")
            continue
        name, sep, value = line.partition(b":")
        if sep:
            last = name.strip().decode("utf-8", "replace").lower()
            headers.setdefault(last, value.strip().decode("utf-8", "replace"))
    headers["_version"] = lines[0].decode("ascii", "replace").strip()
    return headers


def _content_length(headers: dict) -> int | None:
    try:
        n = int(headers.get("content-length", ""))
    except ValueError:
        return None
    return n if n >= 0 else None


# ---------------------------------------------------------------- boundaries of a range

def _gzip_boundary(raw, start: int, end: int) -> int | None:
    """Stored offset of the first gzip member at or after `start` (before `end`, -1: none)
    whose data starts with a WARC record (after stray line ends)."""
    raw.seek(start)
    pos, buf, i, eof = start, b"", 0, False   # buf[0] is at stored offset pos; i: next index to try
    while True:
        if end >= 0 and pos + i >= end:
            return None
        if not eof and len(buf) - i < 1024:  # keep bytes behind a candidate to inflate its start
            chunk = raw.read(_READ)
            eof = not chunk
            buf, pos, i = buf[i:] + chunk, pos + i, 0
            continue
        j = buf.find(_GZIP, i)
        if j < 0 or (len(buf) - j < 1024 and not eof):
            if j < 0 and eof:
                return None
            i = j if j >= 0 else max(len(buf) - 2, i)
            if eof:
                i = len(buf)
            continue
        if end >= 0 and pos + j >= end:
            return None
        try:
            head = zlib.decompressobj(31).decompress(buf[j:j + 65536], 16)
        except zlib.error:
            head = b""
        if head.lstrip(b"\r\n").startswith(b"WARC/"):
            return pos + j
        i = j + 1


def _plain_boundary(raw, start: int, end: int) -> int | None:
    """File offset of the first "WARC/x.y" line at or after `start` (before `end`) whose
    header parses and declares a Content-Length."""
    pos = max(start - 1, 0)
    raw.seek(pos)
    buf = b"" if start > 0 else b"\n"
    if start == 0:
        pos = -1
    while True:
        chunk = raw.read(_READ)
        buf += chunk
        for m in _RECORD_START.finditer(buf):
            at = pos + m.start() + 1
            if at < start:
                continue
            if end >= 0 and at >= end:
                return None
            head_end = buf.find(_SEP, m.start() + 1, m.start() + 1 + MAX_WARC_HEADER)
            if head_end < 0 and chunk:
                break  # header cut by the buffer: read more, try again
            headers = _parse_warc_header(buf[m.start() + 1:head_end]) if head_end >= 0 else None
            if headers is not None and _content_length(headers) is not None:
                return at
        if not chunk:
            return None
        keep = max(len(buf) - MAX_WARC_HEADER - 16, 0)
        if end >= 0 and pos + keep >= end:
            return None
        pos += keep
        buf = buf[keep:]


# ---------------------------------------------------------------- records

def _frame(s: _Stream, u: int, block_cap: int):
    """The record at decoded position u (stray line ends before it skipped):
    ("record", u, header bytes, headers, block, block truncated, next u)
    ("damage", u, detail, resync u or None)
    ("eof",)."""
    while True:
        s.fill(u + 8)
        head = bytes(s.get(u, min(u + 8, s.end)))
        if not head:
            return ("eof",)
        stripped = head.lstrip(b"\r\n\x00")
        if len(stripped) == len(head):
            break
        if not stripped and s.eof and s.end <= u + len(head):
            return ("eof",)
        u += len(head) - len(stripped)
    if not stripped.startswith(b"WARC/"[:len(stripped)]) or (len(stripped) >= 5 and stripped[:5] != b"WARC/"):
        return ("damage", u, f"no WARC record header (starts {stripped!r})", _resync(s, u))
    # the header ends at the first blank line, within MAX_WARC_HEADER
    pos = u
    while True:
        he = s.data.find(_SEP, pos - s.base, u + MAX_WARC_HEADER - s.base)
        if he >= 0:
            he += s.base
            break
        if s.end - u >= MAX_WARC_HEADER:
            return ("damage", u, "no end of the WARC record header", _resync(s, u))
        if s.eof:
            return ("damage", u, "record header cut off by the end of the file", None)
        pos = max(u, s.end - 3)
        s.fill(s.end + 1)
    header = bytes(s.get(u, he))
    headers = _parse_warc_header(header)
    if headers is None:
        return ("damage", u, f"no WARC record header (starts {header[:40]!r})", _resync(s, u))
    length = _content_length(headers)
    if length is None:
        return ("damage", u, f"bad Content-Length {headers.get('content-length')!r}", _resync(s, u))
    b0 = he + 4
    b1 = b0 + length
    keep = min(length, block_cap)
    complete = s.fill(b0 + keep)
    block = bytes(s.get(b0, min(b0 + keep, s.end)))
    if not complete:  # the file ends inside the block: a Content-Length too long, or truncation
        nxt = s.next_member_record(u) if s.gz else None
        nxt = nxt if nxt is not None else _resync(s, he)
        if nxt is not None:
            return ("damage", u, f"Content-Length {length} runs into the next record", nxt)
        return ("damage", u, f"record cut off: {len(block)} of {length} content bytes", None)
    if keep < length:
        s.skip_to(b1)
        if s.end < b1 and s.eof:
            return ("damage", u, f"record cut off inside {length} content bytes", None)
    # a member of a per-record gzip file that starts a record inside the claimed block:
    # the Content-Length is too long (checked before the trailer, which may match by chance)
    if s.gz:
        nxt = s.next_member_record(u)
        if nxt is not None and nxt < b1:
            return ("damage", u, f"Content-Length {length} runs into the next record", nxt)
    try:
        s.fill(b1 + 12)
    except _Damage:
        pass  # the record is whole; the damage after it is the next read's
    tail = bytes(s.get(max(b1, s.base), min(b1 + 12, s.end)))
    after = tail.lstrip(b"\r\n")
    if (after and not after.startswith(b"WARC/"[:len(after)])) or len(tail) - len(after) > 8:
        return ("damage", u, f"Content-Length {length} does not end the record", _resync(s, he))
    return ("record", u, header, headers, block, keep < length, b1 + len(tail) - len(after))


def _resync(s: _Stream, after: int) -> int | None:
    """The first record start after decoded position `after`: a gzip member that starts a
    record, or a "WARC/x.y" line; None at the end of the file."""
    pos = after + 1
    while True:
        m = _RECORD_START.search(s.data, max(pos - 1 - s.base, 0))
        cand = m.start() + 1 + s.base if m else None
        member = s.next_member_record(after)
        if member is not None and (cand is None or member < cand):
            cand = member
        if cand is not None:
            return cand
        if s.eof:
            return None
        pos = max(s.end - 20, pos)
        s.drop(max(min(pos - 1, s.end), s.base))
        s.fill(s.end + _READ)


def _iso_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        d = _dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")


def domain_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host or None


def _web_doc(path: str, offset: int, header: bytes, headers: dict, block: bytes, truncated: bool,
             max_body_bytes: int) -> tuple[str, dict]:
    wtype = (headers.get("warc-type") or "").lower() or None
    url = (headers.get("warc-target-uri") or "").strip().strip("<>") or None
    web = {"warc_type": wtype, "warc_record_id": headers.get("warc-record-id"),
           "fetch_date": _iso_date(headers.get("warc-date")), "domain": domain_of(url), "http_status": None,
           "content_type": None, "http_charset": None, "wet_language": None, "truncated": truncated}
    warc_media, warc_charset = parse_content_type(headers.get("content-type"))
    html = None
    text = ""
    size = len(block)
    if wtype in ("response", "revisit") and (warc_media == "application/http" or block.startswith(b"HTTP/")):
        try:
            resp = parse_response(block, max_body_bytes)
        except HttpError as e:
            return "malformed", dead_letter(path, offset, f"{e.kind}: {e}", header + b"\r\n\r\n" + block[:512],
                                            url=url, warc_type=wtype)
        media = resp.media_type or parse_content_type(headers.get("warc-identified-payload-type"))[0]
        web.update(http_status=resp.status, content_type=media, http_charset=resp.charset,
                   truncated=truncated or resp.truncated)
        size = len(resp.body)
        if wtype == "response" and 200 <= resp.status < 300 and media in HTML_TYPES:
            html = resp.body
    else:
        web.update(content_type=warc_media, http_charset=warc_charset)
        if wtype == "conversion":
            text = block.decode("utf-8", "replace")
            web["wet_language"] = headers.get("warc-identified-content-language")
        elif wtype == "resource" and warc_media in HTML_TYPES:
            html = block
    rid = headers.get("warc-record-id")
    doc = new_document(id=rid or stable_id(path, offset, ""), key=record_key(path, offset), text=text,
                       source=None, url=url, input_file=path)
    doc["raw_bytes"] = size
    doc["web"] = web
    doc["html"] = html
    return "doc", doc


def read_warc(raw, rng: FileRange, max_body_bytes: int, state: dict) -> Iterator[tuple[str, dict]]:
    """("doc", web document) for every WARC / WET record starting in `rng`, ("malformed", dead
    letter) for damage (the contract of pipelines.readers.Reader.read)."""
    gz = _sniff_gzip(raw)
    start = 0 if rng.start == 0 else (_gzip_boundary if gz else _plain_boundary)(raw, rng.start, rng.end)
    if start is None:
        return
    s = _Stream(raw, start, gz)
    block_cap = max_body_bytes + MAX_WARC_HEADER
    inside: dict[int, int] = {}  # gzip member's stored offset -> records started inside it so far
    u = s.base

    def owner(at: int) -> int:  # the stored offset that decides which range a record is in
        return s.owner(at)[0] if gz else at

    def offset_of(at: int) -> int:
        if not gz:
            return at
        stored, member_u = s.owner(at)
        if member_u == at:
            return stored
        inside[stored] = k = inside.get(stored, 0) + 1
        return stored + k

    while True:
        if u < s.base:  # resync target behind the window (a huge record was skipped): re-open there
            s = _Stream(raw, next(m[1] for m in s.members if m[0] == u) if gz else u, gz)
            u = s.base
        try:
            framed = _frame(s, u, block_cap)
        except _Damage as e:
            if rng.end >= 0 and e.member >= rng.end:
                return
            state["offset"] = e.member
            nxt = _gzip_boundary(raw, e.member + 1, -1)
            yield "malformed", _damaged(rng, e.member, str(e), state, final=nxt is None)
            if nxt is None or (rng.end >= 0 and nxt >= rng.end):
                return
            s = _Stream(raw, nxt, True)
            u = s.base
            continue
        if framed[0] == "eof":
            if s.truncated and (rng.end < 0 or s.members[-1][1] < rng.end):
                state["offset"] = s.members[-1][1]
                yield "malformed", _damaged(rng, s.members[-1][1], "gzip member cut off", state, final=True)
            return
        at = framed[1]
        if rng.end >= 0 and owner(at) >= rng.end:
            return
        offset = offset_of(at)
        state["offset"] = offset
        if framed[0] == "damage":
            nxt = framed[3]
            yield "malformed", _damaged(rng, offset, framed[2], state, final=nxt is None)
            if nxt is None:
                return
            u = nxt
            continue
        _, _, header, headers, block, truncated, u = framed
        s.drop(min(u, s.end))
        state["emitted"] += 1
        yield _web_doc(rng.path, offset, header, headers, block, truncated, max_body_bytes)


def _damaged(rng: FileRange, offset: int, detail: str, state: dict, final: bool) -> dict:
    if final:
        return dead_letter(rng.path, offset, f"{CORRUPT} warc file after {state['emitted']} records in this range: {detail}",
                           records_before=state["emitted"])
    return dead_letter(rng.path, offset, f"damaged warc record: {detail}")


def read_html(raw, rng: FileRange, max_body_bytes: int, state: dict) -> Iterator[tuple[str, dict]]:
    """The one web document of an HTML file (plain or gzipped), its body capped at `max_body_bytes`."""
    raw.seek(0)
    if raw.read(3) == _GZIP:
        raw.seek(0)
        d = zlib.decompressobj(31)
        out = bytearray()
        while True:
            chunk = raw.read(_READ)
            if not chunk:
                break
            out += d.decompress(chunk, max_body_bytes + 1 - len(out))
            if len(out) > max_body_bytes or d.unconsumed_tail:
                yield "malformed", dead_letter(rng.path, 0, f"decompression_bomb: page inflates past {max_body_bytes} bytes")
                return
            if d.eof:
                break
        body, truncated = bytes(out), not d.eof
    else:
        raw.seek(0)
        body = raw.read(max_body_bytes + 1) or b""
        truncated = len(body) > max_body_bytes
        body = body[:max_body_bytes]
    web = {"warc_type": None, "warc_record_id": None, "fetch_date": None, "domain": None, "http_status": None,
           "content_type": "text/html", "http_charset": None, "wet_language": None, "truncated": truncated}
    doc = new_document(id=stable_id(rng.path, 0, ""), key=record_key(rng.path, 0), text="", source=None,
                       url=rng.path, input_file=rng.path)
    doc["raw_bytes"] = len(body)
    doc["web"] = web
    doc["html"] = body
    state["emitted"] += 1
    yield "doc", doc


def _first_members_single(raw, limit: int = 2) -> bool:
    """Whether the first `limit` gzip members each hold exactly one WARC record (a per-record
    file, which can be entered at any member). Reads only those members' first records."""
    raw.seek(0)
    s = _Stream(raw, 0, True)
    u = 0
    for _ in range(limit):
        try:
            framed = _frame(s, u, 1 << 16)
        except _Damage:
            return False
        if framed[0] == "eof":
            return True
        if framed[0] != "record" or len(s.members) == 0:
            return False
        # the record began at a member start and the next record (if any) begins at the next one
        starts = [m[0] for m in s.members]
        if framed[1] not in starts:
            return False
        nxt = framed[6]
        s.fill(nxt + 1)
        if s.end > nxt and nxt not in [m[0] for m in s.members]:
            return False
        u = nxt
    return True


def can_enter(path: str) -> bool:
    """Whether a range of the file may start anywhere: a plain WARC, or a gzipped one written a
    member per record (checked on its first members), as opposed to one whose members hold
    several records and which must be read whole."""
    raw = _open(path)
    try:
        return not (_sniff_gzip(raw) and not _first_members_single(raw))
    finally:
        raw.close()
