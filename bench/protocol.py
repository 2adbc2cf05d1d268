"""A Streamlit session without a browser: Streamlit's own websocket protocol, from Python.

For load benchmarks (``bench_load --protocol``): it opens a page and presses buttons the way
the browser's frontend does (a ``BackMsg`` asking for a rerun, with the button's trigger and
the fragment it lives in), and reads the ``ForwardMsg`` stream the server sends back, but it
draws nothing. The server does exactly the work it does for a browser; the client's own cost
is a few milliseconds, so N of these measure the server with its users' browsers elsewhere.
Only what the benchmark needs: buttons by label, waiting for a text, the page's own updates
of its query string; other widgets keep the values the server holds for them.
"""

from __future__ import annotations

import asyncio
import time

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED = (0, 3)  # FINISHED_SUCCESSFULLY, FINISHED_FRAGMENT_RUN_SUCCESSFULLY


class ProtocolSession:
    """One Streamlit session over a websocket: :meth:`open`, :meth:`click`, :meth:`until`."""

    def __init__(self, url: str) -> None:
        self.url = url  # http://host:port
        self.ws = None
        self.page, self.query, self.page_hash = "", "", ""
        self.buttons: dict[str, tuple[str, str]] = {}  # label -> (widget id, fragment id)
        self.seen: list[str] = []  # the text of every element received since the last click
        self.messages = 0

    async def __aenter__(self) -> ProtocolSession:
        host = self.url.split("://", 1)[1]
        self.ws = await websockets.connect(
            f"ws://{host}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
            origin=self.url,
        )  # fmt: skip
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()

    async def _rerun(self, trigger: str | None = None) -> None:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name = self.query, self.page
        state.page_script_hash = self.page_hash
        if trigger is not None:
            widget_id, fragment_id = self.buttons[trigger]
            widget = state.widget_states.widgets.add()
            widget.id, widget.trigger_value = widget_id, True
            if fragment_id:
                state.fragment_id = fragment_id
        self.seen = []
        await self.ws.send(msg.SerializeToString())

    async def open(self, page: str, query: str = "", timeout: float = 300) -> None:
        """Open ``page`` with ``query`` and wait until its script has finished."""
        self.page, self.query = page, query
        await self._rerun()
        await self.until(None, timeout)

    async def click(self, label: str, timeout: float = 300) -> None:
        """Press the button labelled ``label``, once the server has drawn it."""
        deadline = time.monotonic() + timeout
        while label not in self.buttons:
            await self._read(deadline, None)
        await self._rerun(trigger=label)

    async def until(self, text: str | None, timeout: float = 300) -> None:
        """Read messages until an element containing ``text`` arrived (None: until a script
        run has finished); raises ``TimeoutError`` after ``timeout`` seconds."""
        if text is not None and any(text in s for s in self.seen):
            return
        deadline = time.monotonic() + timeout
        while not await self._read(deadline, text):
            pass

    async def _read(self, deadline: float, text: str | None) -> bool:
        """Take one message in; True when it is what :meth:`until` waits for."""
        raw = await asyncio.wait_for(self.ws.recv(), max(0.1, deadline - time.monotonic()))
        self.messages += 1
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.page_hash = msg.new_session.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "navigation" and msg.navigation.page_script_hash:
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            element = msg.delta.new_element
            if element.WhichOneof("type") == "button":
                self.buttons[element.button.label] = (element.button.id, msg.delta.fragment_id)
            body = str(element)
            self.seen.append(body)
            return text is not None and text in body
        elif kind == "script_finished":
            return text is None and msg.script_finished in FINISHED
        return False
