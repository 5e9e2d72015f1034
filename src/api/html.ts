import type { Localizer } from '../i18n';
import { escapeHtml } from '../i18n/escape';

export { escapeHtml };

/**
 * A page a person reaches from a mail (issue #15): the app's name, logo, "back to the app" and
 * help links around already-escaped body markup, in `lng`, from the `page.html` template.
 */
export const brandedPage = (localizer: Localizer, lng: string, title: string, body: string) => localizer.render('page.html', lng, { title, body });

/** A complete, script-free HTML page around already-escaped body markup (operator pages such as the dev outbox). */
export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}
h1{font-size:1.5rem}button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#1f5f99;color:#fff;cursor:pointer}
pre{white-space:pre-wrap;background:#f4f4f4;padding:1rem;border-radius:.4rem}.meta{color:#666;font-size:.9rem}
article{border-bottom:1px solid #ddd;padding-bottom:1rem}
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}
