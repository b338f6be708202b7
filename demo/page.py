"""The page's HTML pieces: the decision headline, the header and the image panels.

Styles are inline, so the page reads the same however the app is launched. Colour never carries
meaning alone: every decision has its word and its own symbol, and the map's warnings are words.
"""

from __future__ import annotations

import html

from pneumo_runtime.contract import ModelContract
from pneumo_runtime.decision import REFER, REJECTED
from pneumo_runtime.scope import scope_line

from .overlay import BORDER_BAND, Peak
from .texts import model_card_line, site_line

# (symbol, background): white text on each background has a contrast ratio above 4.5 (WCAG AA).
DECISION_STYLE = {
    "NORMAL": ("\u2713", "#1b5e20"),  # check mark
    "PNEUMONIA": ("\u25b2", "#b71c1c"),  # triangle: a finding
    REFER: ("\u21aa", "#8a4500"),  # hooked arrow: send on to a radiologist
    REJECTED: ("\u2715", "#37474f"),  # cross: not analysed
}
OTHER_STYLE = ("\u25b2", "#b71c1c")  # a pneumonia sub-class (BACTERIAL, VIRAL)
DECISION_PX = 44  # the largest text on the page, on purpose: the decision is read first
TEXT = "font-family:system-ui,sans-serif;"

MAP_CAPTION = ("Where the model looked when it weighed {target}: warmer means more weight. "
               "Not a segmentation and not an outline of disease.")


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def empty_headline() -> str:
    return (f'<div class="pneumo-decision" style="{TEXT}border:2px dashed #777;border-radius:10px;padding:12px 16px;">'
            '<div style="font-size:15px;">Decision</div>'
            '<div style="font-size:18px;font-weight:600;">Upload a chest X-ray, then choose Analyse.</div></div>')


def headline(decision: str, recommendation: str, reason: str) -> str:
    """The decision word with its symbol and colour, the one-line recommendation and why."""
    symbol, background = DECISION_STYLE.get(decision, OTHER_STYLE)
    return (
        f'<section class="pneumo-decision" role="status" aria-live="polite" aria-label="Decision: {esc(decision)}" '
        f'style="{TEXT}background:{background};color:#fff;border-radius:10px;padding:10px 16px;">'
        '<div style="font-size:15px;letter-spacing:0.05em;color:#fff;">Decision</div>'
        f'<div class="pneumo-decision-word" data-decision="{esc(decision)}" '
        f'style="font-size:{DECISION_PX}px;font-weight:800;line-height:1.1;color:#fff;">'
        f'<span aria-hidden="true" style="color:#fff;">{symbol} </span>{esc(decision)}</div>'
        f'<div class="pneumo-recommendation" style="font-size:15px;margin-top:4px;color:#fff;">{esc(recommendation)}</div>'
        + (f'<div class="pneumo-reason" style="font-size:13px;color:#fff;">Why: {esc(reason)}</div>' if reason not in recommendation else "")
        + '</section>'
    )


def header(contract: ModelContract) -> str:
    """Title, model version, site adaptation, disclaimer and intended use: always on screen."""
    site = site_line(contract)
    site_html = f' &middot; <strong class="pneumo-site">{esc(site)}</strong>' if site else ""
    return (
        f'<header style="{TEXT}font-size:13px;line-height:1.35;">'
        '<h1 style="font-size:20px;margin:0 0 2px 0;">pneumo: pneumonia second opinion on chest X-rays</h1>'
        f'<div><strong>{esc(contract.disclaimer)}</strong></div>'
        f'<div class="pneumo-model">{esc(model_card_line(contract))}{site_html}</div>'
        f'<div class="pneumo-intended-use">Intended use: {esc(contract.intended_use)}</div>'
        f'<div class="pneumo-scope">Scope: {esc(scope_line(contract.population_check))}.</div></header>'
    )


def picture(src: str, alt: str, label: str) -> str:
    return (f'<figure style="{TEXT}margin:0;"><figcaption style="font-size:13px;font-weight:600;">{esc(label)}</figcaption>'
            f'<img src="{src}" alt="{esc(alt)}" style="display:block;max-width:100%;max-height:52vh;"></figure>')


def _markers(peak: Peak | None, ellipse_mask: float) -> str:
    """SVG drawn over the map: the model's field of view and, when flagged, the peak and the central region."""
    shapes = []
    if ellipse_mask > 0:
        shapes.append(f'<ellipse cx="50" cy="50" rx="{50 * ellipse_mask:.1f}" ry="{50 * ellipse_mask:.1f}" '
                      'fill="none" stroke="#fff" stroke-width="0.6"/>')
    if peak is not None and peak.outside_lung_fields:
        inner = 100 * BORDER_BAND
        shapes.append(f'<rect class="pneumo-lung-region" x="{inner:.1f}" y="{inner:.1f}" width="{100 - 2 * inner:.1f}" '
                      f'height="{100 - 2 * inner:.1f}" fill="none" stroke="#fff" stroke-width="0.5" stroke-dasharray="2 1.5"/>')
        shapes.append(f'<circle class="pneumo-peak-mark" cx="{100 * peak.x:.1f}" cy="{100 * peak.y:.1f}" r="7" fill="none" '
                      'stroke="#ff00ff" stroke-width="1.4" stroke-dasharray="3 1.5"/>')
    if not shapes:
        return ""
    return ('<svg viewBox="0 0 100 100" preserveAspectRatio="none" aria-hidden="true" '
            f'style="position:absolute;inset:0;width:100%;height:100%;pointer-events:none;">{"".join(shapes)}</svg>')


def heatmap_figure(base_src: str, heat_src: str, opacity: float, label: str, peak: Peak | None, ellipse_mask: float,
                   alt: str) -> str:
    """The X-ray with the map above it; the page's opacity slider changes ``.pneumo-heat`` in the browser."""
    return (
        f'<figure class="pneumo-map" style="{TEXT}margin:0;"><figcaption style="font-size:13px;font-weight:600;">{esc(label)}</figcaption>'
        '<div style="position:relative;display:inline-block;max-width:100%;">'
        f'<img src="{base_src}" alt="{esc(alt)}" style="display:block;max-width:100%;max-height:52vh;">'
        f'<img class="pneumo-heat" src="{heat_src}" alt="" aria-hidden="true" '
        f'style="position:absolute;inset:0;width:100%;height:100%;opacity:{opacity:.2f};">'
        f'{_markers(peak, ellipse_mask)}</div></figure>'
    )


def map_notes(target: str, peak: Peak | None, method: str, on_request: bool) -> str:
    """The line under the map: what it is and is not, the peak rule's finding, how it was drawn."""
    lines = [f'<div class="pneumo-map-caption">{esc(MAP_CAPTION.format(target=target))}</div>']
    if on_request:
        lines.insert(0, '<div><strong>Shown on request for a NORMAL result: no finding is implied.</strong></div>')
    if peak is None:
        lines.append('<div class="pneumo-map-warning"><strong>The map is flat: it points nowhere.</strong></div>')
    elif peak.outside_lung_fields:
        lines.append('<div class="pneumo-map-warning" role="note" style="color:#8b0057;">'
                     f'<strong><span aria-hidden="true">\u25cc </span>Caution:</strong> {esc(peak.warning())} '
                     f'(Marked with a dashed circle; the dashed box is the central region, inside a {round(100 * BORDER_BAND)}% border.)</div>')
    if method:
        lines.append(f'<div style="opacity:0.8;">Map drawn by: {esc(method)}</div>')
    return f'<div class="pneumo-map-notes" style="{TEXT}font-size:13px;line-height:1.35;">{"".join(lines)}</div>'


def no_finding(map_html: str, notes_html: str) -> str:
    """NORMAL: no map by default; the map stays one keyboard-reachable click away, labelled."""
    return (
        f'<div style="{TEXT}font-size:15px;">'
        '<p class="pneumo-no-finding" style="font-weight:600;margin:0 0 6px 0;">'
        'No finding to localise: the model found no pneumonia pattern, so no map is shown.</p>'
        '<details class="pneumo-map-on-request"><summary style="cursor:pointer;font-size:13px;">'
        'Show the pneumonia map anyway (on request)</summary>'
        f'{map_html}{notes_html}</details></div>'
    )


def no_map(reason: str) -> str:
    return f'<div class="pneumo-no-map" style="{TEXT}font-size:15px;">{esc(reason)}</div>'
