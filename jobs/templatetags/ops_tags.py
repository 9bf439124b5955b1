from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from jobs.ops.pages import panel_html

register = template.Library()


@register.simple_tag
def ops_panel() -> SafeString:
    """The /ops/ panel for the admin's index (rendered from our own template, so already escaped)."""
    return SafeString(panel_html())
