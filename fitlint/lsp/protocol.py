"""The JSON-RPC layer: pygls's protocol and server classes, with fitlint's checks of every
incoming message (what a broken or hostile client can send gets the answer JSON-RPC 2.0 and
the Language Server Protocol prescribe, and never an error pop-up)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer
    from pygls.protocol import LanguageServerProtocol

_logger = logging.getLogger("fitlint.lsp")


def _is_message_id(value: Any) -> bool:
    """Whether ``value`` can be a request id: the protocol's ``integer | string``."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _protocol_error(text: str, notify: Callable[[str, Any], None]) -> None:
    """Logs a protocol error to stderr (or the log file) and to the client's output log."""
    from lsprotocol import types

    _logger.warning("protocol error: %s", text)
    notify(
        types.WINDOW_LOG_MESSAGE,
        types.LogMessageParams(type=types.MessageType.Warning, message=f"fitlint: {text}"),
    )


def server_classes() -> tuple[type[LanguageServerProtocol], type[LanguageServer]]:
    """The pygls protocol and server classes, with fitlint's checks of every incoming message.

    pygls decodes each message with ``json.loads(body, object_hook=structure_message)`` and
    hands the result to ``handle_message``; both are overridden here, the protocol's public
    extension points. ``structure_message`` leaves every object as it is (the hook also runs
    on objects nested in the parameters), and ``handle_message`` checks the whole message first:

    - Not a JSON object (a number, a string, ``null``, an array), no ``"jsonrpc": "2.0"``, an
      id that is neither an integer nor a string, a method that is not a string, or an id with
      neither a method nor a result or error: an ``InvalidRequest`` (-32600) answer, with the
      message's id when it has a usable one and ``null`` otherwise, as JSON-RPC 2.0 answers
      what is not a valid request object. A batch (an array) is not supported: each request in
      it gets its own ``InvalidRequest`` answer.
    - A response (an id with a result or an error and no method) is never answered, even when
      it cannot be read or answers nothing: it is logged and dropped.
    - A notification of the protocol sent with an id gets ``InvalidRequest`` and is not acted
      on; a request of the protocol sent without an id cannot be answered and is dropped.
    - Before ``initialize``, a request gets ``ServerNotInitialized`` (-32002) and a
      notification is dropped; a second ``initialize`` gets ``InvalidRequest`` and changes
      nothing; after ``shutdown``, a request gets ``InvalidRequest`` and a notification other
      than ``exit`` is dropped (what the protocol specifies for each).
    - A request whose parameters do not match the protocol gets ``InvalidParams`` (-32602); a
      notification with such parameters, or a ``didChange`` of a document that is not open,
      is dropped.

    Every one of these is logged, to stderr (or the log file) and to the client's output log
    (``window/logMessage``); none is a ``window/showMessage`` pop-up. A message that is not
    JSON gets a ``ParseError`` (-32700) answer with id ``null``. An error in a notification's
    handler goes to the same logs, not to a pop-up.

    Raises:
        ImportError: When pygls (the ``lsp`` extra) is not installed.
    """
    from urllib.parse import unquote

    import attrs
    from lsprotocol import types
    from pygls.exceptions import (
        FeatureRequestError,
        JsonRpcException,
        JsonRpcInternalError,
        JsonRpcInvalidParams,
        JsonRpcInvalidRequest,
        JsonRpcParseError,
        JsonRpcServerNotInitialized,
    )
    from pygls.lsp.server import LanguageServer
    from pygls.protocol import LanguageServerProtocol

    def is_request_method(method: str) -> bool | None:
        """Whether the protocol's ``method`` is a request (True) or a notification (False)."""
        message_type = types.METHOD_TO_TYPES.get(method, (None,))[0]
        return None if message_type is None else "id" in attrs.fields_dict(message_type)

    class _Protocol(LanguageServerProtocol):
        _initialize_received = False
        _initialized_received = False
        _shutdown_received = False

        def structure_message(self, data: dict[str, Any]) -> Any:
            return data  # structured in handle_message, once the whole message is known

        def handle_message(self, message: Any) -> None:
            try:
                self._receive(message)
            except Exception:  # the server outlives any bug in its own message handling
                _logger.exception("handling a message failed")

        def reply_error(self, msg_id: Any, code: int, text: str) -> None:
            """Logs a protocol error and answers it to ``msg_id`` (None: id ``null``)."""
            _protocol_error(text, self.notify)
            # A plain object: pygls's ResponseErrorMessage leaves out an id that is None,
            # and JSON-RPC wants "id": null there.
            error = {"code": code, "message": text}
            self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

        def _receive(self, message: Any) -> None:
            if isinstance(message, list):
                self._batch(message)
                return
            if not isinstance(message, dict):
                self._invalid(None, f"not a JSON-RPC message: {_json_kind(message)}")
                return
            if "method" not in message and ("result" in message or "error" in message):
                self._response(message)
                return
            has_id = "id" in message
            msg_id = message.get("id")
            if has_id and not _is_message_id(msg_id):
                self._invalid(None, "the id of a request must be an integer or a string")
                return
            if message.get("jsonrpc") != "2.0":
                self._invalid(msg_id, 'not a JSON-RPC 2.0 message: "jsonrpc" must be "2.0"')
                return
            method = message.get("method")
            if method is None:
                self._invalid(
                    msg_id, "a message without a method must be a response: a result or an error"
                )
                return
            if not isinstance(method, str):
                self._invalid(msg_id, "the method must be a string")
                return
            if self._refused(method, msg_id if has_id else None, has_id):
                return
            if "params" not in message:
                message = {**message, "params": None}
            try:
                structured = super().structure_message(message)
            except Exception:
                if has_id:
                    self.reply_error(
                        msg_id, JsonRpcInvalidParams.CODE, f"invalid params for {method}"
                    )
                else:
                    _protocol_error(f"invalid params for {method}: ignored", self.notify)
                return
            if not has_id and self._not_open(method, structured.params):
                return
            if method == types.INITIALIZE:
                self._initialize_received = True
            elif method == types.INITIALIZED:
                self._initialized_received = True
            elif method == types.SHUTDOWN:
                self._shutdown_received = True
            super().handle_message(structured)

        def _invalid(self, msg_id: Any, text: str) -> None:
            self.reply_error(msg_id, JsonRpcInvalidRequest.CODE, text)

        def _batch(self, batch: list[Any]) -> None:
            text = "batches are not supported: send each message on its own"
            ids = [
                m["id"]
                for m in batch
                if isinstance(m, dict) and "method" in m and _is_message_id(m.get("id"))
            ]
            for msg_id in ids or [None]:
                self._invalid(msg_id, text)

        def _response(self, message: dict[str, Any]) -> None:
            """A response (to a request of the server's): read it, never answer it."""
            if message.get("jsonrpc") != "2.0" or not (
                message.get("id") is None or _is_message_id(message.get("id"))
            ):
                _protocol_error("a response that is not JSON-RPC 2.0: ignored", self.notify)
                return
            if "id" not in message:
                _protocol_error("a response without an id: ignored", self.notify)
                return
            try:
                structured = super().structure_message(message)
            except Exception:
                _protocol_error(f"a response that cannot be read: {message['id']!r}", self.notify)
                return
            super().handle_message(structured)

        def _refused(self, method: str, msg_id: Any, has_id: bool) -> bool:
            """Answers or drops what the protocol or the session's state does not allow."""
            request = is_request_method(method)
            if request is False and has_id:
                self._invalid(msg_id, f"{method} is a notification: send it without an id")
            elif request is True and not has_id:
                _protocol_error(f"{method} is a request: sent without an id, ignored", self.notify)
            elif method == types.EXIT:
                return False
            elif self._shutdown_received:
                if has_id:
                    self._invalid(msg_id, f"{method} after shutdown: only exit is accepted")
                else:
                    _logger.info("%s after shutdown: ignored", method)
            elif not self._initialize_received and method != types.INITIALIZE:
                if has_id:
                    self.reply_error(
                        msg_id,
                        JsonRpcServerNotInitialized.CODE,
                        f"{method} before initialize: the server is not initialized",
                    )
                else:
                    _protocol_error(f"{method} before initialize: ignored", self.notify)
            elif method == types.INITIALIZE and self._initialize_received:
                self._invalid(msg_id, "the server is initialized already: initialize is sent once")
            elif method == types.INITIALIZED and self._initialized_received:
                _protocol_error("a second initialized notification: ignored", self.notify)
            else:
                return False
            return True

        def _not_open(self, method: str, params: Any) -> bool:
            """A change of a document or notebook that is not open: logged and dropped."""
            if method == types.TEXT_DOCUMENT_DID_CHANGE:
                uri, documents = params.text_document.uri, self.workspace.text_documents
            elif method == types.NOTEBOOK_DOCUMENT_DID_CHANGE:
                uri, documents = params.notebook_document.uri, self.workspace.notebook_documents
            else:
                return False
            if unquote(uri) in documents:
                return False
            _protocol_error(f"{method} of {uri}, which is not open: ignored", self.notify)
            return True

    class _Server(LanguageServer):
        def report_server_error(self, error: Exception, source: Any) -> None:
            if source is JsonRpcException:
                # From the read loop: handle_message never raises, so json.loads failed
                # (not JSON, not UTF-8, nested too deep, a number too long).
                if isinstance(error, UnicodeDecodeError):
                    reason = f"not UTF-8: {error.reason} at byte {error.start}"
                elif isinstance(error, RecursionError):
                    reason = "nested too deeply"
                else:
                    reason = f"not JSON: {error}"
                protocol = self.protocol
                assert isinstance(protocol, _Protocol)
                protocol.reply_error(None, JsonRpcParseError.CODE, f"parse error: {reason}")
                return
            if source is FeatureRequestError:
                return  # answered to the request already, and logged by pygls
            _logger.error("internal error (%s): %s", getattr(source, "__name__", source), error)
            if source is not JsonRpcInternalError:  # that one is a failure to send anything
                self.window_log_message(
                    types.LogMessageParams(
                        type=types.MessageType.Error, message=f"fitlint: internal error: {error}"
                    )
                )

    return _Protocol, _Server
