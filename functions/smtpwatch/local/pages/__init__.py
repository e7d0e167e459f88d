"""The HTML pages of `smtpwatch serve`: page_model values in, HTML and inline SVG out.

No JavaScript: charts are drawn here as SVG, hover text is SVG ``<title>``, the page
refreshes with a meta tag and filters with a GET form. Every text goes through
``smtpwatch.core.safe_text.for_html``.
"""
