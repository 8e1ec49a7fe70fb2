"""The CJK font every PDF embeds, and paragraph helpers for Chinese text.

The font is found by path, never by name lookup: ``BRANDFLOW_FONT`` (a .ttf/.ttc file; for a .ttc the
sub-font index comes from ``BRANDFLOW_FONT_INDEX``, default 0) wins when set, otherwise the first
loadable file of ``CANDIDATES`` is used. Debian/Ubuntu: ``apt-get install fonts-wqy-microhei``.
Only TrueType outlines work with reportlab; CFF-based fonts (e.g. Noto Sans CJK .ttc) are skipped.
"""

from __future__ import annotations

import os
import re
import threading
from xml.sax.saxutils import escape as _xml_escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, Spacer

FONT_NAME = "BrandFlowCJK"
APT_PACKAGE = "fonts-wqy-microhei"

CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",  # Fedora / Arch
    "/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansSC-Regular.ttf",
    "/System/Library/Fonts/STHeiti Light.ttc",  # macOS
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/simhei.ttf",
    "C:/Windows/Fonts/msyh.ttc",
)

_lock = threading.Lock()
_registered: dict[str, str] = {}  # "name" -> font name, "path" -> file used


class FontNotFoundError(RuntimeError):
    """No usable CJK TrueType font: Chinese would print as boxes, so refuse to render."""


def _load(path: str, index: int) -> TTFont:
    kwargs = {"subfontIndex": index} if path.lower().endswith((".ttc", ".otc")) else {}
    font = TTFont(FONT_NAME, path, **kwargs)
    if 0x4E2D not in font.face.charToGlyph:  # 中
        raise ValueError("字体中没有汉字字形")
    return font


def register_fonts() -> str:
    """Register the CJK font with reportlab (once per process) and return its font name."""
    if "name" in _registered:
        return _registered["name"]
    with _lock:
        if "name" in _registered:
            return _registered["name"]
        override = os.environ.get("BRANDFLOW_FONT")
        if override:
            index = int(os.environ.get("BRANDFLOW_FONT_INDEX", "0") or 0)
            try:
                font = _load(override, index)
            except Exception as exc:
                raise FontNotFoundError(
                    f"环境变量 BRANDFLOW_FONT 指定的字体无法使用：{override}（{exc}）。"
                    f"请指向一个 TrueType 中文字体文件，或取消该变量并安装 {APT_PACKAGE}"
                    f"（Debian/Ubuntu：sudo apt-get install {APT_PACKAGE}）。"
                ) from exc
            path = override
        else:
            font, path, tried = None, None, []
            for candidate in CANDIDATES:
                if not os.path.isfile(candidate):
                    continue
                try:
                    font, path = _load(candidate, 0), candidate
                    break
                except Exception as exc:  # CFF outlines, broken file, no CJK glyphs
                    tried.append(f"{candidate}（{exc}）")
            if font is None:
                detail = f"；已尝试但不可用：{'；'.join(tried)}" if tried else ""
                raise FontNotFoundError(
                    f"未找到可用的中文 TrueType 字体，PDF 中的汉字将无法显示{detail}。"
                    f"请安装 {APT_PACKAGE}（Debian/Ubuntu：sudo apt-get install {APT_PACKAGE}），"
                    "或设置环境变量 BRANDFLOW_FONT 指向一个中文 TrueType 字体文件（.ttf/.ttc）。"
                )
        pdfmetrics.registerFont(font)
        # The font has no bold/italic faces: map <b>/<i> to the same face instead of failing.
        pdfmetrics.registerFontFamily(
            FONT_NAME, normal=FONT_NAME, bold=FONT_NAME, italic=FONT_NAME, boldItalic=FONT_NAME
        )
        _registered["path"] = path
        _registered["name"] = FONT_NAME
        return FONT_NAME


def font_path() -> str:
    """The file the registered font came from."""
    register_fonts()
    return _registered["path"]


def styles(size: float = 10.5) -> dict[str, ParagraphStyle]:
    """Paragraph styles for Chinese text (CJK line breaking), body size ``size`` pt (五号 = 10.5)."""
    font = register_fonts()
    leading = round(size * 1.5, 1)
    base = ParagraphStyle(
        "cjk", fontName=font, fontSize=size, leading=leading, wordWrap="CJK", alignment=TA_LEFT
    )

    def derive(name: str, **kw) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **kw)

    return {
        "body": base,
        "body_indent": derive("body_indent", firstLineIndent=2 * size),  # 段首空两字
        "title": derive("title", fontSize=16, leading=24, alignment=TA_CENTER, spaceAfter=6),
        "label": derive("label", alignment=TA_CENTER),
        "label_left": base,
        "subhead": derive("subhead", spaceBefore=2, spaceAfter=1),
        "small": derive("small", fontSize=9, leading=13, textColor=colors.HexColor("#444444")),
        "small_right": derive(
            "small_right",
            fontSize=9,
            leading=13,
            alignment=TA_RIGHT,
            textColor=colors.HexColor("#444444"),
        ),
        "right": derive("right", alignment=TA_RIGHT),
    }


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LEADING_SPACE = re.compile(r"^[\s\u3000]+")


def escape(text: object) -> str:
    """User text made safe for Paragraph markup: ``<``, ``>``, ``&`` print literally."""
    if text is None:
        return ""
    text = _CONTROL.sub("", str(text)).replace("\t", " ")
    return _xml_escape(text)


def para(text: object, style: ParagraphStyle) -> Paragraph:
    """One Paragraph of user text (line breaks kept)."""
    lines = str(text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return Paragraph("<br/>".join(escape(line) for line in lines), style)


# Kinsoku (禁则): these never start a line / never end one.
NO_LINE_START = set("，。、；：？！）》」』】〕〉”’…—·%,.;:?!)]}>、～℃％")
NO_LINE_END = set("（《「『【〔〈“‘([{<")
_WORD = re.compile(r"[!-~]+|[ \u3000]+|.", re.S)  # ASCII runs, spaces, single other chars


class CJKText(Flowable):
    """One paragraph of plain user text, broken into lines by Chinese rules, split losslessly.

    reportlab's Paragraph inserts a space at every line end when it splits a CJK paragraph
    across pages (the remainder then shows stray spaces); this flowable keeps its own lines, so a
    split part draws exactly the characters it was given. ASCII words stay whole unless longer
    than a line; punctuation follows the usual 禁则; full lines are justified by character spacing.
    The text is drawn as-is: no markup, so ``<script>&`` prints literally.
    """

    def __init__(
        self, text: str, style: ParagraphStyle, first_indent: float = 0.0, _lines=None, _width=0.0
    ):
        super().__init__()
        self.text = text
        self.style = style
        self.first_indent = first_indent
        self._lines = _lines  # [(text, width, is_last)], broken for self._break_width
        self._break_width = _width

    # line breaking ------------------------------------------------------------------------
    def _tokens(self) -> list[str]:
        raw = _WORD.findall(self.text)
        tokens: list[str] = []
        pending = ""  # opening punctuation waiting for the next token
        for tok in raw:
            if tok.isspace():
                if pending:
                    tokens.append(pending)
                    pending = ""
                tokens.append(" " if tok[0] == " " else tok)
            elif tok in NO_LINE_END:
                pending += tok
            elif tok[0] in NO_LINE_START and tokens and not tokens[-1].isspace() and not pending:
                tokens[-1] += tok
            else:
                tokens.append(pending + tok)
                pending = ""
        if pending:
            tokens.append(pending)
        return tokens

    def _break(self, width: float) -> list[tuple[str, float, bool]]:
        font, size = self.style.fontName, self.style.fontSize

        def sw(t: str) -> float:
            return stringWidth(t, font, size)

        lines: list[tuple[str, float, bool]] = []
        cur, cur_w = "", 0.0
        avail = width - self.first_indent
        for tok in self._tokens():
            w = sw(tok)
            if cur_w + w <= avail + 1e-6:
                if cur or tok != " ":
                    cur, cur_w = cur + tok, cur_w + w
                continue
            if tok == " ":  # a break at a space drops the space
                lines.append((cur, cur_w, False))
                cur, cur_w, avail = "", 0.0, width
                continue
            if cur:
                stripped = cur.rstrip(" ")
                lines.append((stripped, sw(stripped), False))
                cur, cur_w, avail = "", 0.0, width
            while w > avail + 1e-6:  # a token longer than a line: cut it by characters
                cut, cut_w = "", 0.0
                for ch in tok:
                    cw = sw(ch)
                    if cut and cut_w + cw > avail + 1e-6:
                        break
                    cut, cut_w = cut + ch, cut_w + cw
                lines.append((cut, cut_w, False))
                tok, avail = tok[len(cut) :], width
                w = sw(tok)
            cur, cur_w = tok, w
        lines.append((cur.rstrip(" "), sw(cur.rstrip(" ")), True))
        return lines

    # flowable protocol -------------------------------------------------------------------
    def wrap(self, availWidth, availHeight):
        if self._lines is None or abs(availWidth - self._break_width) > 0.5:
            self._lines = self._break(availWidth)
            self._break_width = availWidth
        self.width = availWidth
        self.height = len(self._lines) * self.style.leading
        return self.width, self.height

    def split(self, availWidth, availHeight):
        # Keep the lines of the last wrap: a Table splitting a row passes the column width
        # without its padding, which is not the width the cell content was wrapped (and is drawn) at.
        if self._lines is None:
            self.wrap(availWidth, availHeight)
        fit = int((availHeight + 1e-6) // self.style.leading)
        if fit <= 0:
            return []
        if fit >= len(self._lines):
            return [self]
        head, tail = self._lines[:fit], self._lines[fit:]
        bw = self._break_width
        first = CJKText("".join(t for t, _, _ in head), self.style, self.first_indent, head, bw)
        rest = CJKText("".join(t for t, _, _ in tail), self.style, 0.0, tail, bw)
        return [first, rest]

    def draw(self):
        st = self.style
        canv = self.canv
        size, leading = st.fontSize, st.leading
        canv.saveState()
        canv.setFillColor(st.textColor)
        for i, (line, line_w, last) in enumerate(self._lines):
            indent = self.first_indent if i == 0 else 0.0
            avail = self._break_width - indent
            baseline = self.height - (i + 1) * leading + (leading - size) / 2 + size * 0.2
            x, char_space = indent, 0.0
            if st.alignment == TA_CENTER:
                x = indent + (avail - line_w) / 2
            elif st.alignment == TA_RIGHT:
                x = indent + avail - line_w
            elif st.alignment == TA_JUSTIFY and not last and len(line) > 1:
                slack = avail - line_w
                if 0 < slack < size * 3:
                    char_space = slack / (len(line) - 1)
            text = canv.beginText(x, baseline)
            text.setFont(st.fontName, size)
            text.setCharSpace(char_space)
            text.textOut(line)
            canv.drawText(text)
        canv.restoreState()


def text_flowables(text: object, style: ParagraphStyle, indent: bool = True) -> list:
    """Plain user text as flowables that flow across pages without losing or adding characters.

    One ``CJKText`` per line of the input; with ``indent`` each paragraph's own leading spaces
    (incl. full-width) give way to the conventional two-character first-line indent (段首空两字).
    Blank lines become a half-line gap. Alignment, font, size, leading and colour come from
    ``style`` (left alignment is upgraded to justified for indented body text).
    """
    if indent and style.alignment == TA_LEFT:
        style = ParagraphStyle(style.name + "_justify", parent=style, alignment=TA_JUSTIFY)
    out: list = []
    text = _CONTROL.sub("", str(text or "")).replace("\t", " ")
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if out:
                out.append(Spacer(1, style.leading / 2))
            continue
        line = _LEADING_SPACE.sub("", line) if indent else line.strip()
        out.append(CJKText(line.rstrip(), style, 2 * style.fontSize if indent else 0.0))
    while out and isinstance(out[-1], Spacer):
        out.pop()
    return out
