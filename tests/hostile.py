"""Hostile inputs: each tries to make text run script, load from elsewhere or act as the user."""

from __future__ import annotations

HOSTILE = {
    "attr_list_img": "![a](/x){onerror=alert(document.domain)}",
    "attr_list_block": "Heading {: onclick=alert(1) hx-post=/api/jobs/ hx-trigger=load }",
    "raw_img": "<img src=x onerror=alert(1)>",
    "raw_script": "<script>alert(1)</script>",
    "svg": "<svg onload=alert(1)><script>alert(1)</script></svg>",
    "javascript_url": "[click me](javascript:alert(1))",
    "javascript_entity_url": "[click me](&#106;avascript:alert(1))",
    "data_url": "[click me](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "data_image": "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "htmx": '<div hx-post="/api/jobs/" hx-trigger="load" data-hx-get="/evil">x</div>',
    "base": '<base href="https://evil.example/">',
    "css": '<p style="width:expression(alert(1));background:url(javascript:alert(1))">x</p>',
    "iframe": '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "autolink": "<javascript:alert(1)>",
}
