"""Drawing helpers shared by the environments' pygame renderers.

pygame is imported inside these helpers, never at module import, so that training and
headless evaluation run without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MAX_UNREAD_EVENTS = 256
_TEXT_MARGIN_PIXELS = 6
_MIN_FONT_SIZE = 12


class PygameCanvas:
    """A pygame surface that is either shown in a window or kept off screen.

    The window, clock and font are created on first use. In ``"human"`` mode every call to
    :meth:`present` pumps the event queue, so the window keeps responding, and waits for the
    frame rate. Closing the window sets :attr:`closed`; callers check it and end cleanly.

    Args:
        width: Surface width in pixels.
        height: Surface height in pixels.
        title: Window caption.
        human: Show a window (``True``) or draw off screen (``False``).
        fps: Frames per second that :meth:`present` waits for in a window.
    """

    def __init__(self, width: int, height: int, *, title: str, human: bool, fps: int) -> None:
        import pygame

        self._pygame = pygame
        self.width = width
        self.height = height
        self.human = human
        self.fps = fps
        self.closed = False
        pygame.font.init()
        if human:
            pygame.display.init()
            pygame.display.set_caption(title)
            self.surface = pygame.display.set_mode((width, height))
        else:
            self.surface = pygame.Surface((width, height))
        self.clock = pygame.time.Clock()
        self._fonts: dict[int, Any] = {}
        self._unread_events: list[Any] = []

    def font(self, size: int) -> Any:
        """Return the default pygame font at ``size`` points, loaded once."""
        if size not in self._fonts:
            self._fonts[size] = self._pygame.font.Font(None, size)
        return self._fonts[size]

    def draw_text(
        self, text: str, center: tuple[int, int], size: int, color: tuple[int, int, int]
    ) -> None:
        """Draw ``text`` centred on ``center``, shrinking the font until it fits the width."""
        max_width = self.width - 2 * _TEXT_MARGIN_PIXELS
        image = self.font(size).render(text, True, color)
        while image.get_width() > max_width and size > _MIN_FONT_SIZE:
            size -= 1
            image = self.font(size).render(text, True, color)
        self.surface.blit(image, image.get_rect(center=center))

    def pump_events(self) -> list[Any]:
        """Return the window events not read yet, marking the canvas closed on a window close.

        Events fetched by :meth:`present` are kept for the next call, so a front end that
        reads keys or clicks between frames never loses one.
        """
        if not self.human:
            return []
        self._fetch_events()
        events, self._unread_events = self._unread_events, []
        return events

    def _fetch_events(self) -> None:
        for event in self._pygame.event.get():
            if event.type == self._pygame.QUIT:
                self.closed = True
            self._unread_events.append(event)
        # Keep memory bounded when no caller reads the events (a window that is only watched).
        del self._unread_events[:-_MAX_UNREAD_EVENTS]

    def present(self) -> None:
        """Show the surface in the window and wait for the frame rate; no-op off screen."""
        if not self.human or self.closed:
            return
        self._fetch_events()
        self._pygame.display.flip()
        self.clock.tick(self.fps)

    def to_rgb_array(self) -> np.ndarray:
        """Copy the surface into an H x W x 3 ``uint8`` array."""
        pixels = self._pygame.surfarray.array3d(self.surface)  # (W, H, 3)
        return np.ascontiguousarray(np.transpose(pixels, (1, 0, 2)), dtype=np.uint8)

    def close(self) -> None:
        """Close the window, if one is open."""
        if self.human and not self.closed:
            self._pygame.display.quit()
        self.closed = True
