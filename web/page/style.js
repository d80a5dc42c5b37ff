/**
 * The page's style sheet, applied as a constructed sheet so that the page needs no inline style
 * and no second file.  Colours keep a contrast of at least 4.5:1 (text) on their backgrounds;
 * one column on a phone-width window.
 */

const CSS = `
:root { color-scheme: light; font-family: system-ui, "Noto Sans TC", "PingFang TC", "Microsoft JhengHei", sans-serif;
  line-height: 1.5; color: #1a1a1a; background: #f6f7f9; }
body { margin: 0; }
header { background: #16325c; color: #fff; padding: 0.75rem 1rem; display: flex; flex-wrap: wrap; gap: 0.5rem 1rem;
  align-items: center; justify-content: space-between; }
header h1 { font-size: 1.25rem; margin: 0; }
header label { font-size: 0.95rem; }
header select { margin-left: 0.4rem; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
section { background: #fff; border: 1px solid #c9ced6; border-radius: 8px; padding: 1rem; margin-bottom: 1rem; }
h2 { font-size: 1.1rem; margin-top: 0; }
.field { display: flex; flex-direction: column; margin-bottom: 0.9rem; }
.field label { font-weight: 600; margin-bottom: 0.25rem; }
input, select, textarea, button, .button { font: inherit; font-size: 1rem; }
input, select, textarea { padding: 0.5rem; border: 1px solid #5a6270; border-radius: 4px; background: #fff; color: #1a1a1a;
  max-width: 100%; box-sizing: border-box; }
textarea { min-height: 5rem; }
[aria-invalid="true"] { border: 2px solid #b00020; }
button, .button { display: inline-block; padding: 0.55rem 1.1rem; border-radius: 4px; border: 1px solid #0b4fa8;
  background: #0b4fa8; color: #fff; cursor: pointer; text-decoration: none; margin: 0.25rem 0.5rem 0.25rem 0; }
button.secondary { background: #fff; color: #0b4fa8; }
button:disabled { background: #6b7280; border-color: #6b7280; cursor: not-allowed; }
:focus-visible { outline: 3px solid #ffb000; outline-offset: 2px; }
.error { background: #fdecee; color: #8a0015; border: 1px solid #b00020; border-radius: 4px; padding: 0.6rem;
  margin-bottom: 1rem; }
.ok { color: #0f5c2e; font-weight: 600; }
.note { color: #4a5160; font-size: 0.95rem; }
.drop { border: 2px dashed #5a6270; border-radius: 8px; padding: 1rem; text-align: center; margin-bottom: 0.9rem; }
.drop.over { background: #e6effa; }
progress { width: 100%; height: 1.25rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; border-bottom: 1px solid #c9ced6; padding: 0.3rem; vertical-align: top; }
.live { max-width: 40rem; margin: 0 auto; padding: 0 1rem 1rem; }
#status { min-height: 1.5rem; font-weight: 600; }
@media (max-width: 30rem) { main { padding: 0.5rem; } section { padding: 0.75rem; } }
`;

/** Apply the sheet to the document. */
export function applyStyle() {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  document.adoptedStyleSheets = [sheet];
}
