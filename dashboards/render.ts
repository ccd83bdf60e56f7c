/**
 * A Vega-Lite spec to SVG in Node (vega-lite compile -> vega View with no renderer -> toSVG), and SVG to
 * PNG with @resvg/resvg-js. No browser, no canvas package: vega measures text by estimate in Node, so
 * the SVG's layout can differ from the browser's by a few pixels.
 */
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

/** Vega-Lite to the Vega spec the View runs (also what the browser does with the bundled vega-lite). */
export function toVega(spec: TopLevelSpec): vega.Spec {
  return compile(spec).spec as vega.Spec
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(toVega(spec)), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

/**
 * PNG at twice the SVG's size, on white, with the system's fonts (DejaVu on Debian). resvg is a native
 * module loaded on first use, so the CLI starts where its shared libraries are missing (the offline
 * container base image holds only node's) and fails only if a PNG is asked for there.
 */
export async function svgToPng(svg: string): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js')
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: { mode: 'zoom', value: 2 },
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  })
  return resvg.render().asPng()
}
