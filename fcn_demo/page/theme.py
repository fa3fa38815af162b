"""The page's Gradio theme: Soft, orange, with darker shades wherever its text would fall below
WCAG AA contrast (4.5:1, which the browser test checks with axe-core)."""

from __future__ import annotations

import gradio as gr

FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]


def theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="orange", neutral_hue="slate", font=FONTS).set(
        body_text_color_subdued="*neutral_600",
        block_label_text_color="*primary_800",
        block_title_text_color="*primary_800",
        block_info_text_color="*neutral_600",
        color_accent="*primary_700",
        color_accent_soft="*primary_100",
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_text_color="white",
        checkbox_border_color="*neutral_500",
        input_border_color="*neutral_400",
        checkbox_label_text_color="*neutral_800",
        checkbox_label_background_fill_selected="*primary_700",
        checkbox_label_border_color_selected="*primary_700",
    )
