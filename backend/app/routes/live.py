"""The live feed: `/api/live`, a WebSocket (the protocol is in README "Live feed"; the work is in app/live.py)."""

from fastapi import APIRouter, WebSocket, status

router = APIRouter(tags=["live"])


@router.websocket("/api/live")
async def live_feed(websocket: WebSocket) -> None:
    """Refuse a handshake from an origin CORS does not allow (a browser always sends `Origin`, so another site's
    page cannot open it with the user's cookies or anything else); else accept, and let the first message
    authenticate: no token ever travels in the URL."""
    origin = websocket.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in websocket.app.state.settings.allowed_origins:
        await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()
    await websocket.app.state.live.serve(websocket)
