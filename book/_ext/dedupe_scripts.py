"""Drop duplicate <script> entries from every page.

sphinx-thebe registers its inline configuration script from an event that fires after the HTML builder exists, so
with Sphinx 7 the same ``const THEBE_JS_URL = ...`` block is emitted twice and the browser reports a SyntaxError
("Identifier 'THEBE_JS_URL' has already been declared"). Keeping the first copy of each script fixes the console.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for js in context.get("script_files", []):
        body = getattr(js, "attributes", {}).get("body")
        key = ("inline", body) if body else ("file", str(js))  # inline copies differ only in filename None vs ''

        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
