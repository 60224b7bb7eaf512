"""What a node sends the node that runs a sandbox (on another machine) when it forwards a proxied
request there, and what it keeps of that node's answer: the caller's credential as received (that
node checks it again), no hop-by-hop header nor any client-sent forwarding header or hop mark, its own
X-Forwarded-*, request id and hop mark; the answer filtered as a sandbox's, minus that server's own
Date, Server and X-Request-Id (this server adds its own)."""

from __future__ import annotations

from tesserra_core.usecases.runtime_views import ProxyTarget
from tesserra_http.proxy.headers import ADDED_TO_CLIENT, to_client, to_node, to_sandbox

CLIENT = [
    (b"Host", b"tesserra.example"),
    (b"Authorization", b"Bearer secret"),
    (b"Cookie", b"tesserra_proxy_token=tsp_x"),
    (b"X-Tesserra-Proxy-Token", b"tsp_y"),
    (b"Connection", b"keep-alive, X-Private"),
    (b"X-Private", b"hop"),
    (b"Transfer-Encoding", b"chunked"),
    (b"X-Forwarded-For", b"6.6.6.6"),
    (b"Forwarded", b"for=6.6.6.6"),
    (b"X-Tesserra-Node-Hop", b"forged"),
    (b"X-Request-Id", b"client-id"),
    (b"Content-Type", b"text/plain"),
]


def test_a_forwarded_request_carries_the_credential_and_this_nodes_own_forwarding_headers() -> None:
    sent = to_node(CLIENT, client="203.0.113.7", scheme="https", node_id="node-a", request_id="rid-1")
    assert sent == [
        (b"host", b"tesserra.example"),  # first: the request's Host toward the node (``forward``)
        (b"authorization", b"Bearer secret"),
        (b"cookie", b"tesserra_proxy_token=tsp_x"),
        (b"x-tesserra-proxy-token", b"tsp_y"),
        (b"content-type", b"text/plain"),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"tesserra.example"),
        (b"x-request-id", b"rid-1"),
        (b"x-tesserra-node-hop", b"node-a"),
    ]


def test_a_query_token_this_node_exchanged_goes_in_the_header_unless_one_is_sent() -> None:
    bare = [(b"host", b"h")]
    sent = to_node(bare, client="c", scheme="http", node_id="n", request_id="r", token="tsp_q", websocket=True)
    assert (b"x-tesserra-proxy-token", b"tsp_q") in sent
    sent = to_node(CLIENT, client="c", scheme="http", node_id="n", request_id="r", token="tsp_q")
    assert [v for k, v in sent if k == b"x-tesserra-proxy-token"] == [b"tsp_y"]


def test_the_hop_mark_never_reaches_a_sandbox() -> None:
    target = ProxyTarget(
        sandbox_id="s", tenant_id="t", port=8000, host="127.0.0.1", host_port=1, prefix="/p", idle_timeout_seconds=None
    )
    sent = to_sandbox(CLIENT, target, client="c", scheme="http")
    assert not {b"x-tesserra-node-hop", b"authorization", b"cookie", b"x-tesserra-proxy-token"} & {k for k, _ in sent}


TARGET = ProxyTarget(
    sandbox_id="s", tenant_id="t", port=8000, host="127.0.0.1", host_port=1, prefix="/p/s", idle_timeout_seconds=None
)


def test_a_sandbox_gets_what_is_left_in_order_then_the_proxys_forwarding_headers() -> None:
    assert to_sandbox(CLIENT, TARGET, client="203.0.113.7", scheme="https") == [
        (b"x-request-id", b"client-id"),
        (b"content-type", b"text/plain"),
        (b"x-forwarded-for", b"203.0.113.7"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"tesserra.example"),
        (b"x-forwarded-prefix", b"/p/s"),
    ]
    upgrade = [
        (b"Host", b"h:1"),
        (b"Connection", b"Upgrade"),
        (b"Upgrade", b"websocket"),
        (b"Sec-WebSocket-Key", b"k"),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Protocol", b"chat"),
        (b"Origin", b"https://h"),
    ]
    # the handshake's key and version are the relay's own (it makes its own upgrade), and go
    assert to_sandbox(upgrade, TARGET, client="c", scheme="ws", websocket=True) == [
        (b"sec-websocket-protocol", b"chat"),
        (b"origin", b"https://h"),
        (b"x-forwarded-for", b"c"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"h:1"),
        (b"x-forwarded-prefix", b"/p/s"),
    ]


def test_a_query_token_goes_before_the_forwarding_headers_when_connection_dropped_the_sent_one() -> None:
    sent = [
        (b"Host", b"h"),
        (b"Connection", b"X-Tesserra-Proxy-Token"),
        (b"X-Tesserra-Proxy-Token", b"tsp_h"),
        (b"Accept", b"*/*"),
    ]
    assert to_node(sent, client="c", scheme="http", node_id="n", request_id="r", token="tsp_q") == [
        (b"host", b"h"),
        (b"accept", b"*/*"),
        (b"x-tesserra-proxy-token", b"tsp_q"),
        (b"x-forwarded-for", b"c"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"h"),
        (b"x-request-id", b"r"),
        (b"x-tesserra-node-hop", b"n"),
    ]


def test_the_nodes_answer_is_filtered_again_without_its_servers_own_headers() -> None:
    answer = [
        (b"date", b"Sat, 05 Dec 2026 05:00:00 GMT"),
        (b"server", b"uvicorn"),
        (b"x-request-id", b"rid-1"),
        (b"content-type", b"text/plain"),
        (b"content-length", b"2"),
        (b"set-cookie", b"a=b"),
        *ADDED_TO_CLIENT,
    ]
    assert to_client(answer, hop=True) == [
        (b"content-type", b"text/plain"),
        (b"content-length", b"2"),
        *ADDED_TO_CLIENT,
    ]
    assert (b"date", b"Sat, 05 Dec 2026 05:00:00 GMT") in to_client(answer)  # a sandbox's own Date stays
