"""``http_get``: fetch a web page with httpx, safely.

Safe by default against server-side request forgery:

- only ``http``/``https``; the host is resolved once and *every* address it
  resolves to must be public: loopback, link-local, private, shared and
  reserved ranges are refused unless ``allow_private=True``; the connection then
  goes to the checked address (no second DNS lookup, so no DNS rebinding);
- an optional allowlist of hosts (``"example.com"``, ``"*.example.com"``, an IP);
- redirects are followed by hand, and each hop is checked again;
- IPv6 forms that carry an IPv4 address (IPv4-mapped/-compatible/-translated,
  6to4, NAT64, ISATAP) are checked as that address; Teredo, NAT64 local-use,
  site-local, unique-local and documentation ranges are refused;
- an allowlist entry may name a port (``"example.com:443"``): other ports are refused;
- ``timeout`` is a deadline for the whole call (every redirect and the whole
  body: a server that drips a byte at a time is cut off), and a size limit is
  enforced while streaming;
- no proxy settings or credentials are taken from the environment.

>>> from augment.tools.http import HttpGet
>>> HttpGet(allowed_hosts=["example.com"]).call({"url": "http://127.0.0.1/"})  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
augment.errors.ToolPermissionError: http_get: host '127.0.0.1' is not on the allowlist (example.com)
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from typing import Any, Iterable

from augment.errors import MissingDependencyError, ToolError, ToolPermissionError, ToolTimeoutError
from augment.tools.base import Tool

__all__ = ["HttpGet", "check_address", "host_allowed"]

_REDIRECTS = {301, 302, 303, 307, 308}
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


_V6 = ipaddress.IPv6Network
# IPv6 ranges that carry an IPv4 address in their last 32 bits (checked as that IPv4 address)
_EMBEDDING = (("IPv4-translated", _V6("::ffff:0:0:0/96")), ("NAT64", _V6("64:ff9b::/96")),
              ("IPv4-compatible", _V6("::/96")))
# ranges refused outright: tunnels whose far end cannot be checked, and special-purpose blocks
_REFUSED = (("Teredo tunnel", _V6("2001::/32")), ("NAT64 local-use", _V6("64:ff9b:1::/48")),
            ("site-local", _V6("fec0::/10")), ("discard-only", _V6("100::/64")), ("documentation", _V6("2001:db8::/32")),
            ("documentation", _V6("3fff::/20")), ("ORCHID", _V6("2001:10::/28")), ("ORCHIDv2", _V6("2001:20::/28")),
            ("SRv6 SID", _V6("5f00::/16")), ("private (unique-local)", _V6("fc00::/7")),
            ("6to4 relay anycast", ipaddress.IPv4Network("192.88.99.0/24")),
            ("benchmarking", ipaddress.IPv4Network("198.18.0.0/15")), ("IETF protocol", ipaddress.IPv4Network("192.0.0.0/24")))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, NAT64, ISATAP...), with the form's name."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    low = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for label, net in _EMBEDDING:
        if ip in net and not (label == "IPv4-compatible" and int(ip) <= 1):  # :: and ::1 are themselves
            return label, low
    if (int(ip) >> 32) & 0xFDFFFFFF == 0x5EFE:  # ISATAP interface identifier ::0:5efe:a.b.c.d / ::200:5efe:a.b.c.d
        return "ISATAP", low
    return None


def _kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (None when it is)."""
    for label, net in _REFUSED:
        if ip.version == net.version and ip in net:
            return label
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            form, v4 = embedded
            inner = _kind(v4)
            if inner or form == "IPv4-compatible":
                return f"{inner or 'deprecated'} address in {form} form ({v4})"
    for label, flag in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local), ("unspecified", ip.is_unspecified),
                        ("multicast", ip.is_multicast), ("private", ip.is_private), ("reserved", ip.is_reserved)):
        if flag:
            return label
    return None if ip.is_global else "non-public"


def check_address(host: str, ip: IPAddress, allow_private: bool) -> None:
    """Raise :class:`ToolPermissionError` when ``ip`` is not public and private addresses are not allowed."""
    kind = _kind(ip)
    if kind and not allow_private:
        shown = f"'{host}' resolves to {ip}" if str(ip) != host else f"{ip}"
        raise ToolPermissionError(
            f"http_get: {shown}, a {kind} address; loopback, link-local and private addresses are refused "
            f"to protect the local network (create the tool with allow_private=True to allow them)"
        )


def _split_entry(entry: str) -> tuple[str, int | None]:
    """``"host"``, ``"host:port"``, ``"[v6]:port"`` -> (host, port or None)."""
    e = entry.lower().strip().rstrip(".")
    if e.startswith("["):
        host, _, rest = e[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    head, sep, tail = e.rpartition(":")
    if sep and tail.isdigit() and ":" not in head:
        return head.rstrip("."), int(tail)
    return e, None


def host_allowed(host: str, allowed: Iterable[str], port: int | None = None) -> bool:
    """Whether ``host`` (and ``port``) match an allowlist entry.

    An entry is exact (``"api.example.com"``), ``*.domain`` or ``.domain`` for a domain and
    its subdomains, or an IP; ``":port"`` after it (``"example.com:443"``, ``"[::1]:8080"``)
    restricts it to that port, without one any port matches.
    """
    host = host.lower().rstrip(".").strip("[]")
    for entry in allowed:
        p, only = _split_entry(entry)
        if only is not None and port is not None and only != port:
            continue
        if p.startswith("*."):
            if host.endswith(p[1:]) or host == p[2:]:
                return True
        elif p.startswith("."):
            if host.endswith(p) or host == p[1:]:
                return True
        elif host == p.strip("[]"):
            return True
    return False


class HttpGet(Tool):
    """Fetch a web page or API URL with an HTTP GET and return its status and text.

    >>> tool = HttpGet(allowed_hosts=["docs.python.org"], max_bytes=200_000)
    >>> tool.spec()["function"]["name"]
    'http_get'
    """

    name = "http_get"
    permissions = ("network",)

    def __init__(
        self,
        *,
        allowed_hosts: Iterable[str] | None = None,
        allow_private: bool = False,
        timeout: float = 10.0,
        max_bytes: int = 1_000_000,
        max_chars: int = 4_000,
        max_redirects: int = 5,
        user_agent: str = "augment-http-get/0.1",
        name: str | None = None,
    ):
        if isinstance(allowed_hosts, str):
            allowed_hosts = [h.strip() for h in allowed_hosts.split(",") if h.strip()]
        self.allowed_hosts = list(allowed_hosts) if allowed_hosts is not None else None
        self.allow_private = allow_private
        self.request_timeout = float(timeout)
        self.max_bytes = int(max_bytes)
        self.max_chars = int(max_chars)
        self.max_redirects = int(max_redirects)
        self.user_agent = user_agent
        # ``timeout`` is a deadline for the whole call (redirects and a slowly dripping body included);
        # the outer limit a little above it returns to the caller even if a read is stuck
        super().__init__(name=name, timeout=self.request_timeout + 5.0)

    def forward(self, url: str) -> str:
        """Args:
            url: the full http:// or https:// address to fetch
        """
        try:
            import httpx
        except ImportError as e:  # pragma: no cover - httpx is a dependency
            raise MissingDependencyError("httpx", purpose="the http_get tool") from e
        current = self._parse(url, httpx)
        with httpx.Client(follow_redirects=False, trust_env=False) as client:  # set up (TLS context) before the clock starts
            deadline = time.monotonic() + self.request_timeout
            for hop in range(self.max_redirects + 1):
                resp_info = self._fetch(client, current, httpx, deadline)
                if resp_info["status"] in _REDIRECTS and resp_info["location"]:
                    current = self._parse(str(current.join(resp_info["location"])), httpx)
                    continue
                return self._render(current, resp_info)
        raise ToolError(f"http_get: more than {self.max_redirects} redirects starting from {url}; stopped")

    def _parse(self, url: str, httpx: Any) -> Any:
        try:
            parsed = httpx.URL(url.strip())
        except Exception as e:
            raise ToolError(f"http_get: '{url}' is not a valid URL ({e}); give a full address like https://example.com/page") from None
        if parsed.scheme not in ("http", "https"):
            raise ToolPermissionError(f"http_get: only http:// and https:// URLs are allowed, got '{url}'")
        if not parsed.host:
            raise ToolError(f"http_get: '{url}' has no host; give a full address like https://example.com/page")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if self.allowed_hosts is not None and not host_allowed(parsed.host, self.allowed_hosts, port):
            allowed = ", ".join(self.allowed_hosts) or "no hosts"
            raise ToolPermissionError(
                f"http_get: host '{parsed.host}' is not on the allowlist ({allowed}) for port {port}; it was not contacted"
            )
        return parsed

    def _resolve(self, url: Any) -> IPAddress:
        host = url.host
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            port = url.port or (443 if url.scheme == "https" else 80)
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as e:
                raise ToolError(f"http_get: cannot resolve host '{host}' ({e}); check the address") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
            if not addresses:
                raise ToolError(f"http_get: host '{host}' has no address")
        for ip in addresses:
            check_address(host, ip, self.allow_private)
        return addresses[0]

    def _late(self, url: Any) -> ToolTimeoutError:
        return ToolTimeoutError(f"http_get: {url} did not answer within {self.request_timeout:g} s "
                                f"(the deadline of the whole request, redirects and body included)")

    def _fetch(self, client: Any, url: Any, httpx: Any, deadline: float) -> dict[str, Any]:
        ip = self._resolve(url)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._late(url)
        pinned = url.copy_with(host=str(ip))
        headers = {"Host": url.netloc.decode("ascii"), "User-Agent": self.user_agent, "Accept": "text/html,application/json,text/*;q=0.9,*/*;q=0.5"}
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        timeout = httpx.Timeout(remaining)
        try:
            request = client.build_request("GET", pinned, headers=headers, extensions=extensions, timeout=timeout)
            resp = client.send(request, stream=True)
            try:
                body, truncated = bytearray(), False
                for chunk in resp.iter_bytes():
                    if time.monotonic() > deadline:
                        raise self._late(url)
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        del body[self.max_bytes:]
                        truncated = True
                        break
            finally:
                resp.close()
            return {
                "status": resp.status_code, "reason": resp.reason_phrase, "location": resp.headers.get("location"),
                "type": resp.headers.get("content-type", ""), "encoding": resp.charset_encoding,
                "body": bytes(body), "truncated": truncated,
            }
        except httpx.TimeoutException:
            raise self._late(url) from None
        except httpx.HTTPError as e:
            raise ToolError(f"http_get: request to {url} failed: {type(e).__name__}: {e}") from None

    def _render(self, url: Any, info: dict[str, Any]) -> str:
        ctype = info["type"].split(";")[0].strip().lower()
        body: bytes = info["body"]
        textual = not ctype or ctype.startswith("text/") or any(k in ctype for k in ("json", "xml", "javascript", "yaml"))
        if not textual:
            text = f"(binary content of type {ctype}, {len(body)} bytes read; not shown)"
        else:
            text = body.decode(info["encoding"] or "utf-8", errors="replace")
            if ctype in ("text/html", "application/xhtml+xml"):
                text = _html_to_text(text)
        notes = []
        if info["truncated"]:
            notes.append(f"[body cut at the size limit of {self.max_bytes} bytes]")
        if len(text) > self.max_chars:
            notes.append(f"[text shortened from {len(text)} to {self.max_chars} characters]")
            text = text[: self.max_chars]
        head = f"HTTP {info['status']} {info['reason']}\nURL: {url}\nContent-Type: {info['type'] or 'unknown'}\n\n"
        return head + text + ("\n" + "\n".join(notes) if notes else "")


def _html_to_text(html: str) -> str:
    try:
        from bs4 import BeautifulSoup
    except ImportError:  # pragma: no cover - beautifulsoup4 is a dependency
        return re.sub(r"<[^>]+>", " ", html)
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)
