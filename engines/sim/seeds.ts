/** Seed lists on the command line: a range `1-1000`, a list `1,5,9`, or both `1-3,17`. */

/** the most seeds one invocation may name: a bound, so a typo like 1-1e12 fails fast */
export const MAX_SEEDS = 10_000_000

/** Parses a seed spec; throws a RangeError that says what is wrong with it. */
export function parseSeeds(spec: string): number[] {
  const seeds: number[] = []
  for (const part of spec.split(',')) {
    const text = part.trim()
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(text)
    if (range !== null) {
      const first = Number(range[1])
      const last = Number(range[2])
      if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first)
        throw new RangeError(`'${text}' is not a range a-b with a <= b`)
      if (seeds.length + (last - first + 1) > MAX_SEEDS) throw new RangeError(`more than ${MAX_SEEDS} seeds`)
      for (let s = first; s <= last; s++) seeds.push(s)
    } else if (/^\d+$/.test(text) && Number.isSafeInteger(Number(text))) {
      seeds.push(Number(text))
    } else {
      throw new RangeError(`'${text}' is neither a seed (a non-negative integer) nor a range a-b`)
    }
  }
  if (seeds.length > MAX_SEEDS) throw new RangeError(`more than ${MAX_SEEDS} seeds`)
  return seeds
}
