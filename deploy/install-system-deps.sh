#!/usr/bin/env bash
# Operating-system programs the platform and its tests use, installed when missing:
#   pdfsig (poppler-utils)   independent check of sealed PDFs in the tests
#   /usr/bin/chromium        the headless browser of the end-to-end tests (tests/e2e/),
#                            driven by Playwright from uv.lock; never `playwright install`
# The corpus of real producers' PDFs that the sealing tests seal (tests/corpus/):
#   soffice (libreoffice-writer-nogui, libreoffice-calc-nogui)
#                            LibreOffice Writer and Calc, headless: documents,
#                            spreadsheets and PDF/A-2b converted to PDF
#   ps2pdf (ghostscript)     PostScript converted to PDF by Ghostscript
#   qpdf                     linearized rewrites of corpus PDFs
#   IPAexGothic (fonts-ipaexfont-gothic)
#                            a Japanese system font that LibreOffice finds through
#                            fontconfig (the sealer's own font comes from uv.lock)
#   haproxy, ip (iproute2)   the load balancer and the network namespaces of the multi-host
#                            test (tests/deploy/test_multi_host.py; it needs root for ip netns)
#   pango (libpango-1.0-0, libpangoft2-1.0-0)
#                            text layout library that WeasyPrint (from uv.lock) loads
#   promtool (prometheus)    checks deploy/prometheus/kyodo-alerts.yml in the tests
#   npm (npm)                installs axe-core from package-lock.json for the browser tests (`npm ci`)
# Everything else (PostgreSQL, Redis, the sealer's font, Python packages) comes from uv.lock.
# Safe to run again: nothing is installed when every program is present.
set -euo pipefail

missing=()
command -v pdfsig >/dev/null 2>&1 || missing+=(poppler-utils)
[ -x /usr/bin/chromium ] || missing+=(chromium)
LO=/usr/lib/libreoffice/program
[ -e "$LO/libswlo.so" ] || missing+=(libreoffice-writer-nogui)
[ -e "$LO/libsclo.so" ] || missing+=(libreoffice-calc-nogui)
command -v ps2pdf >/dev/null 2>&1 || missing+=(ghostscript)
command -v qpdf >/dev/null 2>&1 || missing+=(qpdf)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing+=(iproute2)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -e /usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf ] || missing+=(fonts-ipaexfont-gothic)
libs=$({ ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null || true)
[[ $libs == *libpango-1.0.so.0* ]] || missing+=(libpango-1.0-0)
[[ $libs == *libpangoft2-1.0.so.0* ]] || missing+=(libpangoft2-1.0-0)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "Please install: ${missing[*]} (needs root)" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "Please install: ${missing[*]} with your system's package manager" >&2
  exit 1
fi
