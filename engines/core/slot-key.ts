/**
 * Storage keys for log slots: a prefix and the slot zero-padded to 12 digits, so `Storage.scan` (ascending
 * key order) returns slots in slot order.
 */
const SLOT_DIGITS = 12

export function slotKey(prefix: string, slot: number): string {
  if (!Number.isSafeInteger(slot) || slot < 0)
    throw new RangeError(`slot must be a non-negative integer, got ${slot}`)
  return prefix + String(slot).padStart(SLOT_DIGITS, '0')
}

/** The slot of a key written by slotKey; throws on a key that is not one (corrupt storage). */
export function slotOfKey(prefix: string, key: string): number {
  const slot = Number(key.slice(prefix.length))
  if (!key.startsWith(prefix) || !Number.isSafeInteger(slot) || slot < 0)
    throw new Error(`corrupt storage key ${key}`)
  return slot
}
