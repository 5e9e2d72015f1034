import fs from 'node:fs';
import path from 'node:path';

/**
 * The built-in layouts. A file of the same name in TEMPLATES_DIR replaces one (src/i18n/index.ts).
 *
 * Syntax: `{{name}}` a value (HTML-escaped in .html templates), `{{{name}}}` a value as is (the
 * body, already built), `{{#name}}…{{/name}}` only when the value is set, `{{^name}}…{{/name}}`
 * only when it is not, `{{t:key}}` a message of the catalogue in the page's language.
 *
 * Values: lang, title, appName, appUrl, supportUrl, logoUrl, body, backToApp, openApp, support, sentBy.
 */
export const TEMPLATE_NAMES = ['page.html', 'mail.html', 'mail.txt'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export const BUILTIN_TEMPLATES: Record<TemplateName, string> = {
  // Pages: no scripts, no remote assets but the optional logo; readable on a phone.
  'page.html': `<!doctype html>
<html lang="{{lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{title}} · {{appName}}</title>
<style>
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans Devanagari","Lohit Nepali",sans-serif;margin:0;background:#f3f5f8;color:#1a1a1a;line-height:1.55}
header{background:#fff;border-bottom:1px solid #e2e6eb;padding:.8rem 1rem}
header .in,main,footer{max-width:40rem;margin:0 auto}
.brand{display:flex;align-items:center;gap:.6rem;font-weight:600;font-size:1.05rem}
.brand img{height:2rem;width:auto}
main{background:#fff;margin:1.5rem auto;padding:1.5rem;border-radius:.6rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h1{font-size:1.45rem;line-height:1.3;margin:0 0 1rem}
strong{overflow-wrap:anywhere}
button{font:inherit;font-size:1rem;padding:.7rem 1.4rem;border-radius:.4rem;border:0;background:#1f5f99;color:#fff;cursor:pointer}
.meta{color:#5a6270;font-size:.9rem}
footer{padding:0 1rem 2rem;font-size:.9rem;color:#5a6270;display:flex;flex-wrap:wrap;gap:.5rem 1.5rem}
footer a{color:#1f5f99}
@media (max-width:30rem){main{margin:0;border-radius:0;box-shadow:none}button{width:100%}}
</style>
</head>
<body>
<header><div class="in brand">{{#logoUrl}}<img src="{{logoUrl}}" alt="">{{/logoUrl}}<span>{{appName}}</span></div></header>
<main>
<h1>{{title}}</h1>
{{{body}}}
</main>
<footer>{{#appUrl}}<a href="{{appUrl}}">{{backToApp}}</a>{{/appUrl}}{{^appUrl}}<span>{{openApp}}</span>{{/appUrl}}{{#supportUrl}}<a href="{{supportUrl}}">{{support}}</a>{{/supportUrl}}</footer>
</body>
</html>
`,
  // Mail HTML: inline styles only (mail clients drop <style>), no scripts; the logo only when APP_LOGO_URL is set.
  'mail.html': `<!doctype html><html lang="{{lang}}"><body style="margin:0;padding:0;background:#f3f5f8">
<div style="max-width:560px;margin:0 auto;padding:24px 16px;font-family:Arial,'Noto Sans','Noto Sans Devanagari',sans-serif;line-height:1.5;color:#1a1a1a">
<p style="font-size:16px;font-weight:bold;margin:0 0 16px">{{#logoUrl}}<img src="{{logoUrl}}" alt="" height="32" style="height:32px;vertical-align:middle;margin-right:8px">{{/logoUrl}}{{appName}}</p>
<div style="background:#ffffff;border-radius:8px;padding:24px">
<h2 style="margin:0 0 16px;font-size:20px">{{title}}</h2>
{{{body}}}
</div>
<p style="font-size:13px;color:#5a6270;margin:16px 0 0">{{sentBy}}{{#appUrl}} <a href="{{appUrl}}" style="color:#1f5f99">{{backToApp}}</a>{{/appUrl}}{{#supportUrl}} · <a href="{{supportUrl}}" style="color:#1f5f99">{{support}}</a>{{/supportUrl}}</p>
</div>
</body></html>`,
  'mail.txt': `{{title}}

{{{body}}}

--
{{sentBy}}
{{#appUrl}}{{backToApp}}: {{appUrl}}
{{/appUrl}}{{#supportUrl}}{{support}}: {{supportUrl}}
{{/supportUrl}}`,
};

/** Writes the built-in templates into `dir`, to start an override from (`TEMPLATES_DIR`). */
export function exportTemplates(dir: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return TEMPLATE_NAMES.map((name) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, BUILTIN_TEMPLATES[name]);
    return file;
  });
}
