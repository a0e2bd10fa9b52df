#!/usr/bin/env bash
# Records a real trace of a sample and takes a screenshot of it for the docs
# (docs/images/trace.png, shown in docs/design/tracing.md). Run by hand, not
# in CI: it installs Chromium (Debian's `chromium`) and playwright-core (npm,
# into a temporary folder) if they are missing.
#
#   scripts/trace_screenshot.sh [sample] [out.png]
#
#   sample   default build/release/samples/compose_services (built if missing)
#   out.png  default docs/images/trace.png
#
# Steps: run the sample with TROUPE_TRACE=<tmp>/trace.json; start headless
# Chromium through playwright-core; try chrome://tracing (enabling Chromium's
# internal debugging pages first) and load the file through its Load button's
# file chooser. Perfetto's UI (ui.perfetto.dev) needs the internet. If
# chrome://tracing does not open (Debian's Chromium 156 answers ERR_FAILED in
# headless mode even with internal pages enabled), the trace is drawn by
# scripts/trace_view.html, troupe's own small offline viewer, loaded through
# its file chooser the same way. The script says which one took the picture.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

sample=${1:-build/release/samples/compose_services}
out=${2:-docs/images/trace.png}
case $out in /*) ;; *) out="$root/$out" ;; esac
say() { echo "trace_screenshot: $*"; }

if [ ! -x "$sample" ]; then
  if [ "$sample" = build/release/samples/compose_services ]; then
    say "building $sample (release preset)"
    [ -f build/release/build.ninja ] || scripts/configure.sh --preset release >/dev/null
    cmake --build build/release --target compose_services
  else
    echo "trace_screenshot: $sample is not an executable" >&2
    exit 1
  fi
fi

if ! command -v chromium >/dev/null; then
  say "installing Debian's chromium"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get install -y -q --no-install-recommends chromium
fi
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "trace_screenshot: needs node and npm (for playwright-core)" >&2
  exit 1
}

work=$(mktemp -d /tmp/troupe-trace.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The sample's first request has 100 ms: on a crowded machine it can miss
# its deadline and exit with an error, so give it three tries.
for try in 1 2 3; do
  say "running $sample with TROUPE_TRACE=$work/trace.json (try $try)"
  rm -f "$work"/trace*.json
  if TROUPE_TRACE="$work/trace.json" "$sample"; then break; fi
  [ "$try" -lt 3 ] || { echo "trace_screenshot: $sample failed three times" >&2; exit 1; }
done
trace=$(ls "$work"/trace*.json | head -n 1)  # one file per runtime of the process

say "installing playwright-core into $work"
(cd "$work" && npm init -y >/dev/null && npm install --no-audit --no-fund playwright-core >/dev/null)

mkdir -p "$(dirname "$out")"
cat >"$work/shot.js" <<'EOF'
// argv: trace.json out.png viewer.html
const { chromium } = require('playwright-core');
const fs = require('fs'), os = require('os'), path = require('path');
const [trace, out, viewer] = process.argv.slice(2);

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'troupe-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1400, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run'] });
  let page = await ctx.newPage();
  let used = null;
  try {
    // chrome://tracing is an "internal debugging page": enable those first.
    await page.goto('chrome://chrome-urls');
    const enable = page.getByRole('button', { name: /enable internal debugging pages/i });
    if (await enable.count()) await enable.first().click();
    await page.goto('chrome://tracing', { timeout: 15000 });
    const chooser = page.waitForEvent('filechooser', { timeout: 15000 });
    await page.getByRole('button', { name: /^load$/i }).first().click();
    await (await chooser).setFiles(trace);
    await page.waitForTimeout(3000);
    used = 'chrome://tracing';
  } catch (e) {
    console.log('trace_screenshot: chrome://tracing unavailable (' + e.message.split('\n')[0] + ')');
  }
  if (!used) {
    await page.close();
    page = await ctx.newPage();
    await page.goto('file://' + viewer);
    await page.locator('#file').setInputFiles(trace);
    await page.waitForSelector('body[data-rendered=yes]', { timeout: 15000 });
    used = 'scripts/trace_view.html';
  }
  if (used === 'chrome://tracing') await page.screenshot({ path: out });
  else await page.locator('#shot').screenshot({ path: out });
  console.log('trace_screenshot: drawn by ' + used);
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
})().catch(e => { console.error(e); process.exit(1); });
EOF
(cd "$work" && node shot.js "$trace" "$out" "$root/scripts/trace_view.html")
say "wrote $out"
