"""Sync messages and y-websocket frames: bytes, reading several messages, answering, whole sessions."""

from __future__ import annotations

from typing import Any

import pytest

from crdt.awareness import Awareness, decode_update
from crdt.errors import DecodeError
from crdt.sync import (
    Message,
    MessageKind,
    SyncSession,
    encode_awareness_message,
    encode_message,
    encode_permission_denied,
    encode_query_awareness,
    encode_sync_step1,
    encode_sync_step2,
    encode_sync_update,
    handle_sync_message,
    read_messages,
)

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None


def make_doc(client_id: int) -> Any:
    from crdt import Doc

    return Doc(client_id=client_id)


def text(doc: Any, name: str = "t") -> str:
    return str(doc.get_text(name))


class FakeDoc:
    """Records what sync asks of a document, without an engine."""

    def __init__(self, client_id: int = 1) -> None:
        self.client_id = client_id
        self.applied: list[tuple[bytes, Any]] = []
        self.observers: list[Any] = []

    def encode_state_vector(self) -> bytes:
        return b"\x00"

    def encode_state_as_update(self, state_vector: bytes | None = None) -> bytes:
        return b"diff-for:" + (state_vector or b"")

    def apply_update(self, update: bytes, origin: Any = None) -> None:
        if update == b"bad":
            raise DecodeError("bad update")
        self.applied.append((update, origin))

    def observe_updates(self, callback: Any) -> Any:
        self.observers.append(callback)
        return callback

    def unobserve_updates(self, callback: Any) -> None:
        self.observers.remove(callback)

    def local_update(self, update: bytes, origin: Any = None) -> None:
        for callback in list(self.observers):
            callback(update, origin)


# -- frames, byte for byte -------------------------------------------------------------------------


def test_frame_bytes() -> None:
    assert encode_sync_step1(b"\x00") == bytes([0, 0, 1, 0])
    assert encode_sync_step2(b"\x00\x00") == bytes([0, 1, 2, 0, 0])
    assert encode_sync_update(b"\x01\x02") == bytes([0, 2, 2, 1, 2])
    assert encode_awareness_message(b"\x00") == bytes([1, 1, 0])
    assert encode_query_awareness() == bytes([3])
    assert encode_permission_denied("no") == bytes([2, 0, 2]) + b"no"
    assert encode_permission_denied("é") == bytes([2, 0, 2, 0xC3, 0xA9])
    long = bytes(200)
    assert encode_sync_update(long) == bytes([0, 2, 0xC8, 0x01]) + long


ALL_MESSAGES = [
    Message(MessageKind.SYNC_STEP1, b"\x01\x05\x03"),
    Message(MessageKind.SYNC_STEP2, b"\x00\x00"),
    Message(MessageKind.SYNC_UPDATE, bytes(range(150))),
    Message(MessageKind.AWARENESS, b"\x00"),
    Message(MessageKind.QUERY_AWARENESS),
    Message(MessageKind.PERMISSION_DENIED, reason="read-only ✋"),
]


def test_read_each_message() -> None:
    for message in ALL_MESSAGES:
        assert read_messages(encode_message(message)) == [message]


def test_read_several_messages_in_one_frame() -> None:
    frame = b"".join(encode_message(m) for m in ALL_MESSAGES)
    assert read_messages(frame) == ALL_MESSAGES


def test_unknown_outer_type_is_custom_and_ends_the_frame() -> None:
    frame = bytes([125]) + encode_sync_update(b"x")
    assert read_messages(frame) == [Message(MessageKind.CUSTOM, encode_sync_update(b"x"), custom_type=125)]
    assert encode_message(read_messages(frame)[0]) == frame
    # Jupyter's save request: outer type 2, varstring "save", varuint id.
    save = bytes([2, 4]) + b"save" + bytes([7])
    assert read_messages(encode_query_awareness() + save) == [
        Message(MessageKind.QUERY_AWARENESS),
        Message(MessageKind.CUSTOM, bytes([4]) + b"save" + bytes([7]), custom_type=2),
    ]
    assert read_messages(bytes([9])) == [Message(MessageKind.CUSTOM, b"", custom_type=9)]


def test_encode_custom_message_needs_its_type() -> None:
    with pytest.raises(ValueError):
        encode_message(Message(MessageKind.CUSTOM, b"x"))


@pytest.mark.parametrize(
    "frame",
    [
        b"",  # empty
        b"\x00",  # sync without a type
        b"\x00\x03\x00",  # unknown sync type
        b"\x00\x00",  # step 1 without a payload
        b"\x00\x02\x05abc",  # payload shorter than its length
        b"\x01",  # awareness without a payload
        b"\x01\x80",  # truncated varuint
        b"\x02",  # auth without a sub-type
        b"\x02\x00\x03ab",  # reason shorter than its length
        b"\x02\x00\x02\xff\xfe",  # reason not UTF-8
        b"\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\x7f",  # length beyond 2**53
        b"\x03\x00\x00",  # a good message, then a truncated one
    ],
)
def test_malformed_frames_raise_decode_error(frame: bytes) -> None:
    with pytest.raises(DecodeError):
        read_messages(frame)


def test_every_truncation_is_a_decode_error_or_a_message_boundary() -> None:
    parts = [encode_message(m) for m in ALL_MESSAGES]
    frame = b"".join(parts)
    boundaries = {}
    end = 0
    for i, part in enumerate(parts):
        end += len(part)
        boundaries[end] = i + 1
    for k in range(len(frame)):
        prefix = frame[:k]
        if k in boundaries:
            assert read_messages(prefix) == ALL_MESSAGES[: boundaries[k]]
        else:
            with pytest.raises(DecodeError):
                read_messages(prefix)


if given is not None:

    @settings(max_examples=1000, deadline=None)
    @given(st.binary(max_size=40))
    def test_random_frames_only_raise_decode_error(frame: bytes) -> None:
        try:
            messages = read_messages(frame)
        except DecodeError:
            return
        assert messages
        # Whatever was read can be written again and reads the same.
        assert read_messages(b"".join(encode_message(m) for m in messages)) == messages

    _messages = st.one_of(
        st.builds(
            Message,
            st.sampled_from(
                [
                    MessageKind.SYNC_STEP1,
                    MessageKind.SYNC_STEP2,
                    MessageKind.SYNC_UPDATE,
                    MessageKind.AWARENESS,
                ]
            ),
            st.binary(max_size=300),
        ),
        st.just(Message(MessageKind.QUERY_AWARENESS)),
        st.builds(
            lambda r: Message(MessageKind.PERMISSION_DENIED, reason=r),
            st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
        ),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(_messages, min_size=1, max_size=6))
    def test_messages_round_trip(messages: list[Message]) -> None:
        assert read_messages(b"".join(encode_message(m) for m in messages)) == messages


# -- answering, without an engine ------------------------------------------------------------------


def test_handle_sync_message_answers_step1_and_applies_the_rest() -> None:
    doc = FakeDoc()
    reply = handle_sync_message(doc, MessageKind.SYNC_STEP1, b"\x01\x02\x03", origin="peer")
    assert reply == encode_sync_step2(b"diff-for:\x01\x02\x03")
    assert doc.applied == []
    assert handle_sync_message(doc, MessageKind.SYNC_STEP2, b"u1", origin="peer") is None
    assert handle_sync_message(doc, MessageKind.SYNC_UPDATE, b"u2", origin="peer") is None
    assert doc.applied == [(b"u1", "peer"), (b"u2", "peer")]
    with pytest.raises(ValueError):
        handle_sync_message(doc, MessageKind.AWARENESS, b"", origin="peer")


def test_session_flow_with_a_fake_doc() -> None:
    doc = FakeDoc()
    sent: list[bytes] = []
    custom: list[Message] = []
    session = SyncSession(doc, sent.append, custom_handler=custom.append)
    session.start()
    assert sent == [encode_sync_step1(b"\x00")]
    assert not session.synced
    session.receive(encode_sync_step1(b"\x07") + encode_sync_step2(b"s2"))
    assert sent[1:] == [encode_sync_step2(b"diff-for:\x07")]
    assert doc.applied == [(b"s2", session)]
    assert session.synced
    # Local updates are forwarded; updates that came through this session are not echoed.
    doc.local_update(b"mine", origin=None)
    doc.local_update(b"theirs", origin=session)
    assert sent[2:] == [encode_sync_update(b"mine")]
    # Messages the session does not know go to the custom handler.
    session.receive(bytes([2, 4]) + b"save" + bytes([1]))
    assert custom == [Message(MessageKind.CUSTOM, bytes([4]) + b"save" + bytes([1]), custom_type=2)]
    session.receive(encode_permission_denied("read-only"))
    assert session.permission_denied == "read-only"
    session.close()
    assert doc.observers == []
    doc.local_update(b"after", origin=None)
    assert len(sent) == 3
    with pytest.raises(RuntimeError):
        session.receive(encode_sync_update(b"x"))


def test_malformed_frame_applies_nothing() -> None:
    doc = FakeDoc()
    session = SyncSession(doc, lambda frame: None)
    with pytest.raises(DecodeError):
        session.receive(encode_sync_update(b"good") + b"\x00\x02\x09tr")
    assert doc.applied == []
    assert not session.synced


def test_bad_update_payload_raises_decode_error() -> None:
    doc = FakeDoc()
    session = SyncSession(doc, lambda frame: None)
    with pytest.raises(DecodeError):
        session.receive(encode_sync_step2(b"bad"))
    assert not session.synced


def test_session_origin_can_be_given() -> None:
    doc = FakeDoc()
    session = SyncSession(doc, lambda frame: None, origin="conn-1")
    session.receive(encode_sync_update(b"u"))
    assert doc.applied == [(b"u", "conn-1")]


# -- two real documents ----------------------------------------------------------------------------


def connect(a: Any, b: Any, aw_a: Awareness | None = None, aw_b: Awareness | None = None):
    """Two sessions joined by in-memory queues; returns them and a function delivering everything queued."""
    to_a: list[bytes] = []
    to_b: list[bytes] = []
    sa = SyncSession(a, to_b.append, awareness=aw_a)
    sb = SyncSession(b, to_a.append, awareness=aw_b)

    def pump() -> int:
        delivered = 0
        for _ in range(100):
            if not to_a and not to_b:
                return delivered
            while to_b:
                sb.receive(to_b.pop(0))
                delivered += 1
            while to_a:
                sa.receive(to_a.pop(0))
                delivered += 1
        raise AssertionError("the conversation never settles")

    return sa, sb, pump


def test_two_documents_sync_then_stream_updates() -> None:
    a, b = make_doc(1), make_doc(2)
    a.get_text("t").insert(0, "hello")
    b.get_text("t").insert(0, "world")
    sa, sb, pump = connect(a, b)
    sa.start()
    sb.start()
    pump()
    assert sa.synced and sb.synced
    assert text(a) == text(b)
    assert text(a) in ("helloworld", "worldhello")
    assert a.encode_state_vector() == b.encode_state_vector()
    # After the sync every local change travels as an update message.
    a.get_text("t").insert(0, ">")
    b.get_text("t").insert(len(text(b)), "<")
    delivered = pump()
    assert delivered == 2
    assert text(a) == text(b)
    assert text(a).startswith(">") and text(a).endswith("<")


def test_step2_is_applied_with_the_session_origin() -> None:
    a, b = make_doc(1), make_doc(2)
    a.get_text("t").insert(0, "x")
    seen: list[Any] = []
    b.observe_updates(lambda update, origin: seen.append(origin))
    sa, sb, pump = connect(a, b)
    sb.start()  # b asks, a answers with step 2
    pump()
    assert text(b) == "x"
    assert seen == [sb]
    assert sb.synced and not sa.synced


def test_one_sided_start_is_enough_for_one_direction_only() -> None:
    a, b = make_doc(1), make_doc(2)
    b.get_text("t").insert(0, "b")
    sa, sb, pump = connect(a, b)
    sa.start()
    pump()
    assert text(a) == "b"
    assert sa.synced


def test_handle_sync_message_with_real_documents() -> None:
    a, b = make_doc(1), make_doc(2)
    a.get_text("t").insert(0, "abc")
    reply = handle_sync_message(a, MessageKind.SYNC_STEP1, b.encode_state_vector(), origin="x")
    [message] = read_messages(reply)
    assert message.kind is MessageKind.SYNC_STEP2
    assert handle_sync_message(b, message.kind, message.payload, origin="x") is None
    assert text(b) == "abc"


def test_server_room_relays_between_clients() -> None:
    """One server document, two connections: updates and awareness flow from one client to the other."""
    server = make_doc(100)
    server_aw = Awareness(server)
    server_aw.set_local_state(None)  # a server has no presence of its own
    clients = [make_doc(1), make_doc(2)]
    client_aws = [Awareness(doc) for doc in clients]
    client_aws[1].set_local_state({"user": "bob"})  # (a fresh state at clock 0 is not accepted remotely)
    queues: list[tuple[list[bytes], list[bytes]]] = [([], []), ([], [])]  # (to server, to client)
    server_sessions = []
    client_sessions = []
    for i in range(2):
        to_server, to_client = queues[i]
        server_sessions.append(SyncSession(server, to_client.append, awareness=server_aw))
        client_sessions.append(SyncSession(clients[i], to_server.append, awareness=client_aws[i]))

    def pump() -> None:
        for _ in range(100):
            busy = False
            for i in range(2):
                to_server, to_client = queues[i]
                while to_server:
                    busy = True
                    server_sessions[i].receive(to_server.pop(0))
                while to_client:
                    busy = True
                    client_sessions[i].receive(to_client.pop(0))
            if not busy:
                return
        raise AssertionError("the room never settles")

    for i in range(2):
        server_sessions[i].start()
        client_sessions[i].start()
    pump()
    client_aws[0].set_local_state({"user": "ada"})
    clients[0].get_text("t").insert(0, "from ada")
    pump()
    assert text(server) == text(clients[1]) == "from ada"
    assert client_aws[1].states[1] == {"user": "ada"}
    assert client_aws[0].states[2] == {"user": "bob"}
    assert dict(server_aw.states) == {1: {"user": "ada"}, 2: {"user": "bob"}}
    # Ada's connection closes: the server forgets her presence and tells the others.
    server_sessions[0].close()
    pump()
    assert 1 not in server_aw.states
    assert 1 not in client_aws[1].states
    assert client_aws[0].get_local_state() == {"user": "ada"}


def test_awareness_over_a_direct_link() -> None:
    a, b = make_doc(1), make_doc(2)
    aw_a, aw_b = Awareness(a), Awareness(b)
    aw_a.set_local_state({"name": "a"})
    aw_b.set_local_state({"name": "b"})
    sa, sb, pump = connect(a, b, aw_a, aw_b)
    sa.start()
    sb.start()
    pump()
    assert aw_b.states[1] == {"name": "a"}
    assert aw_a.states[2] == {"name": "b"}
    aw_b.set_local_state_field("cursor", 3)
    pump()
    assert aw_a.states[2] == {"name": "b", "cursor": 3}
    # A query is answered with every known state.
    sent: list[bytes] = []
    SyncSession(a, sent.append, awareness=aw_a).receive(encode_query_awareness())
    [message] = read_messages(sent[0])
    assert {c for c, _, _ in decode_update(message.payload)} == {1, 2}


def test_peer_cannot_remove_our_presence() -> None:
    a, b = make_doc(1), make_doc(2)
    aw_a, aw_b = Awareness(a), Awareness(b)
    aw_a.set_local_state({"name": "a"})
    sa, sb, pump = connect(a, b, aw_a, aw_b)
    sa.start()
    sb.start()
    pump()
    assert aw_b.states[1] == {"name": "a"}
    clock = aw_a.meta[1]["clock"]
    # b drops a's state and broadcasts the removal; a outbids it, so b sees a again.
    aw_b.remove_states([1], origin="rogue")
    assert 1 not in aw_b.states
    pump()
    assert aw_a.get_local_state() == {"name": "a"}
    assert aw_a.meta[1]["clock"] == clock + 1
    assert aw_b.states[1] == {"name": "a"}
    assert aw_b.meta[1]["clock"] == clock + 1


def test_malformed_frame_leaves_real_document_unchanged() -> None:
    a, b = make_doc(1), make_doc(2)
    a.get_text("t").insert(0, "abc")
    update = a.encode_state_as_update()
    session = SyncSession(b, lambda frame: None)
    sv = b.encode_state_vector()
    with pytest.raises(DecodeError):
        session.receive(encode_sync_update(update) + encode_sync_update(update)[:-1])
    with pytest.raises(DecodeError):
        session.receive(encode_sync_update(update[:-1]))
    with pytest.raises(DecodeError):
        session.receive(encode_sync_step2(b"\x05\x01"))
    assert b.encode_state_vector() == sv
    assert text(b) == ""
    session.receive(encode_sync_update(update))
    assert text(b) == "abc"


if given is not None:

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        st.one_of(
            st.binary(max_size=60),
            st.binary(max_size=60).map(encode_sync_update),
            st.binary(max_size=60).map(encode_sync_step1),
            st.binary(max_size=60).map(encode_awareness_message),
        )
    )
    def test_random_frames_into_a_session_only_raise_decode_error(frame: bytes) -> None:
        doc = make_doc(1)
        doc.get_text("t").insert(0, "keep")
        aw = Awareness(doc)
        session = SyncSession(doc, lambda f: None, awareness=aw)
        sv = doc.encode_state_vector()
        try:
            session.receive(frame)
        except DecodeError:
            assert doc.encode_state_vector() == sv
            assert text(doc) == "keep"
            assert dict(aw.states) == {1: {}}


# -- against Yjs -----------------------------------------------------------------------------------


INSERT_JS = {"path": ["t"], "action": "text_insert", "index": 0, "content": "js"}


def test_sync_with_yjs(yjs_oracle) -> None:
    """Our document and a Yjs document exchange step 1 / step 2 and end with the same text."""
    from tests.conftest import b64, unb64

    ours = make_doc(2)
    ours.get_text("t").insert(0, "py")
    script = yjs_oracle.request(
        {
            "kind": "script",
            "clients": [1],
            "roots": {"t": "text"},
            "steps": [{"peer": 0, "op": INSERT_JS}],
        }
    )
    yjs_state = unb64(script["states"][0])
    # We send step 1; Yjs answers with encodeStateAsUpdate(doc, our state vector) as step 2.
    sent: list[bytes] = []
    session = SyncSession(ours, sent.append)
    session.start()
    [step1] = read_messages(sent[0])
    answer = yjs_oracle.request(
        {
            "kind": "apply",
            "updates": [b64(yjs_state)],
            "roots": {"t": "text"},
            "state_vector": b64(step1.payload),
        }
    )
    session.receive(encode_sync_step2(unb64(answer["diff"])))
    assert session.synced
    # Yjs sends step 1; our step 2 brings Yjs up to date.
    session.receive(encode_sync_step1(unb64(answer["state_vector"])))
    [step2] = read_messages(sent[-1])
    assert step2.kind is MessageKind.SYNC_STEP2
    final = yjs_oracle.apply([yjs_state, step2.payload], roots={"t": "text"})
    assert final["json"]["t"] == text(ours)
    assert text(ours) in ("jspy", "pyjs")
    assert final["state_vector"] == ours.encode_state_vector()
