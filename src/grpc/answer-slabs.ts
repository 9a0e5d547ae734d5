/**
 * Something that keeps bytes from {@link AnswerSlabs}: where they are, not a
 * view of them (a view is an object of about 100 bytes; the slab is shared), so
 * a view is made when the bytes are read ({@link bytesOf}). A compaction moves
 * the owner: it points it at an identical copy.
 */
export interface SlabOwner {
  /** the slab the bytes are in, whole */
  memory: Buffer;
  /** where they start in `memory` */
  start: number;
  /** where they end in `memory` */
  end: number;
}

/** The owner's bytes, as a view of its slab. */
export function bytesOf(owner: SlabOwner): Buffer {
  return owner.memory.subarray(owner.start, owner.end);
}

/** The default slab: a few hundred kept answers of a usual size. */
export const SLAB_BYTES = 256 * 1024;

/** One shared buffer, handed out front to back and never written twice. */
class Slab {
  /** the first byte not yet handed out */
  top = 0;
  /** bytes handed out and not released */
  live = 0;
  /** owners in allocation order; a released one is cleared */
  readonly owners: Array<SlabOwner | undefined> = [];
  /** where each owner's bytes start, in allocation order (kept after a release: a slot is found by its start) */
  readonly starts: number[] = [];

  constructor(readonly memory: Buffer) {}

  place(size: number, owner: SlabOwner): Buffer {
    owner.memory = this.memory;
    owner.start = this.top;
    owner.end = this.top += size;
    this.live += size;
    this.owners.push(owner);
    this.starts.push(owner.start);
    return bytesOf(owner);
  }

  /** The slot whose bytes start at `start`, or -1. */
  slot(start: number): number {
    let low = 0;
    let high = this.starts.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = this.starts[middle]!;
      if (at === start) return middle;
      if (at < start) low = middle + 1;
      else high = middle - 1;
    }
    return -1;
  }

  /** Bytes are handed out back to back: a slot ends where the next begins. */
  end(slot: number): number {
    return this.starts[slot + 1] ?? this.top;
  }
}

/**
 * The kept answers' bytes, packed into shared slabs (`Buffer.allocUnsafeSlow`,
 * {@link SLAB_BYTES} each) instead of one buffer apiece, so a cached answer
 * costs its bytes and a view rather than an ArrayBuffer, a backing store and a
 * malloc of its own. An answer over a quarter of a slab gets a buffer of its own.
 *
 * Bytes once handed out are never reused or overwritten: a view stays valid for
 * as long as anyone holds it, so an answer still being written to a socket when
 * its owner is released does not change under it. Space comes back by dropping
 * whole slabs (the garbage collector frees one once no view of it remains): a
 * slab other than the current one is dropped when nothing in it is live, and
 * compacted when less than half of it is (its live owners' bytes are copied
 * into the current slab and each owner is handed its new view). So the bytes
 * held are at most twice the live bytes plus one slab, whatever the order of
 * releases.
 */
export class AnswerSlabs {
  readonly #slabBytes: number;
  /** every slab still held, by its memory (a lone oversize answer is a slab of its own) */
  readonly #slabs = new Map<ArrayBufferLike, Slab>();
  #current: Slab;

  constructor(slabBytes = SLAB_BYTES) {
    if (!Number.isSafeInteger(slabBytes) || slabBytes < 4) throw new TypeError('a slab holds at least 4 bytes');
    this.#slabBytes = slabBytes;
    this.#current = this.#open(slabBytes);
  }

  /** Places `size` bytes for `owner` (sets its `memory`, `start` and `end`) until {@link release}; returns them as a view, to be written. */
  allocate(size: number, owner: SlabOwner): Buffer {
    if (!Number.isSafeInteger(size) || size < 1) throw new TypeError('an answer has at least one byte');
    if (size > this.#slabBytes / 4) return this.#open(size).place(size, owner);
    return this.#bump(size, owner);
  }

  /** The owner no longer needs its bytes (where it now points); releasing again, or bytes not from here, does nothing. */
  release(owner: SlabOwner): void {
    const slab = this.#slabs.get(owner.memory.buffer);
    const slot = slab ? slab.slot(owner.start) : -1;
    if (!slab || slot < 0 || slab.owners[slot] !== owner) return;
    slab.owners[slot] = undefined;
    slab.live -= slab.end(slot) - slab.starts[slot]!;
    if (slab !== this.#current) this.#settle(slab);
  }

  /** Bytes of all slabs held (the current one whole). */
  get heldBytes(): number {
    let held = 0;
    for (const slab of this.#slabs.values()) held += slab.memory.length;
    return held;
  }

  /** Bytes handed out and not released. */
  get liveBytes(): number {
    let live = 0;
    for (const slab of this.#slabs.values()) live += slab.live;
    return live;
  }

  #open(size: number): Slab {
    const slab = new Slab(Buffer.allocUnsafeSlow(size));
    this.#slabs.set(slab.memory.buffer, slab);
    return slab;
  }

  /** From the current slab; a full one is retired for a new one. */
  #bump(size: number, owner: SlabOwner): Buffer {
    if (this.#current.top + size > this.#slabBytes) {
      const full = this.#current;
      this.#current = this.#open(this.#slabBytes);
      this.#settle(full);
    }
    return this.#current.place(size, owner);
  }

  /**
   * A slab that is not the current one: kept while at least half of it is
   * live; otherwise dropped, its live owners moved into the current slab.
   */
  #settle(slab: Slab): void {
    if (slab.live * 2 >= slab.memory.length) return;
    this.#slabs.delete(slab.memory.buffer);
    slab.owners.forEach((owner, slot) => {
      if (owner === undefined) return;
      const start = slab.starts[slot]!;
      const end = slab.end(slot);
      slab.memory.copy(this.#bump(end - start, owner), 0, start, end);
    });
  }
}
