/**
 * The name a cell goes by wherever a person reads it: every chart series, legend and tooltip, the
 * report's and the dashboard's tables, the CLI's reference rows. Two variants of one engine (an
 * experiment's `engines: [{engine, label, config}]`, summary.json `cells[].variant`) must never read as
 * one engine, and a cell of a run without variants reads as it always did: its engine.
 */

/** What the label is made from: summary.json `cells[].engine` and `cells[].variant` (absent: none). */
export interface LabelledCell {
  readonly engine: string
  readonly variant?: string | null | undefined
}

/**
 * The engine when the cell has no variant (or the variant is the engine's own name); the variant's label
 * when it names its engine (`multipaxos-batching`, the convention claims.ts also reads); otherwise
 * `<engine>/<variant>` (`epaxos/fast`), so the engine is never hidden behind a bare label.
 */
export function cellLabel(cell: LabelledCell): string {
  const variant = cell.variant ?? null
  if (variant === null || variant === '' || variant === cell.engine) return cell.engine
  if (variant.startsWith(`${cell.engine}-`)) return variant
  return `${cell.engine}/${variant}`
}
