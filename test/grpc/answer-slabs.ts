import t, { type Test } from 'tap';
import { AnswerSlabs, bytesOf, SLAB_BYTES, type SlabOwner } from '../../src/grpc/answer-slabs.js';

const SLAB = 4096;

/** An owner as the cache's answers are: it keeps wherever it was last pointed. */
interface Owner extends SlabOwner {
  readonly id: number;
  /** a view of every place this owner was ever pointed at, to check none of them changed */
  readonly seen: Buffer[];
  /** its bytes, read as the answers read them */
  readonly bytes: Buffer;
}

const NOWHERE = Buffer.alloc(0);

function owner(id: number): Owner {
  return {
    id,
    seen: [],
    memory: NOWHERE,
    start: 0,
    end: 0,
    get bytes() {
      return bytesOf(this);
    },
  };
}

/** A byte pattern that differs between owners and along each owner's bytes. */
function pattern(id: number, size: number): Buffer {
  return Buffer.from(Array.from({ length: size }, (_, i) => (id * 131 + i * 7) & 0xff));
}

function allocate(slabs: AnswerSlabs, id: number, size: number): Owner {
  const placed = owner(id);
  const written = slabs.allocate(size, placed);
  pattern(id, size).copy(written);
  placed.seen.push(placed.bytes);
  return placed;
}

/** Records the places a compaction moved owners to since the last look. */
function look(owners: Iterable<Owner>): void {
  for (const owner of owners) {
    const last = owner.seen.at(-1)!;
    if (last.buffer !== owner.memory.buffer || last.byteOffset !== owner.memory.byteOffset + owner.start) owner.seen.push(owner.bytes);
  }
}

/** A deterministic sequence in [0, 1). */
function random(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

function checkHeldBound(t: Test, slabs: AnswerSlabs, slab: number): boolean {
  return t.ok(slabs.heldBytes <= 2 * slabs.liveBytes + slab, `held ${slabs.heldBytes} ≤ 2 × live ${slabs.liveBytes} + one slab`);
}

t.test('views never overlap and no byte handed out ever changes, through allocations, releases and compactions', async (t) => {
  const slabs = new AnswerSlabs(SLAB);
  const next = random(7);
  const live = new Map<number, Owner>();
  const released: Owner[] = [];
  let withinBound = true;
  for (let id = 0; id < 3000; id++) {
    live.set(id, allocate(slabs, id, 1 + Math.floor(next() * (SLAB / 4))));
    // Release about as often as allocate, in no particular order, so slabs fill, empty and compact.
    while (live.size > 0 && next() < 0.48) {
      const ids = [...live.keys()];
      const victim = live.get(ids[Math.floor(next() * ids.length)]!)!;
      look([victim]);
      slabs.release(victim);
      live.delete(victim.id);
      released.push(victim);
    }
    look(live.values());
    withinBound &&= slabs.heldBytes <= 2 * slabs.liveBytes + SLAB;
  }
  t.ok(withinBound, 'held bytes stayed within twice the live bytes plus one slab after every step');
  t.ok([...live.values(), ...released].some((owner) => owner.seen.length > 1), 'some owners were moved by a compaction');

  t.equal(slabs.liveBytes, [...live.values()].reduce((sum, owner) => sum + owner.bytes.length, 0), 'live bytes are the live owners’ bytes');
  const byBuffer = new Map<ArrayBufferLike, Owner[]>();
  for (const owner of live.values()) byBuffer.set(owner.bytes.buffer, [...(byBuffer.get(owner.bytes.buffer) ?? []), owner]);
  let overlaps = 0;
  for (const owners of byBuffer.values()) {
    owners.sort((a, b) => a.bytes.byteOffset - b.bytes.byteOffset);
    for (let i = 1; i < owners.length; i++) if (owners[i - 1]!.bytes.byteOffset + owners[i - 1]!.bytes.length > owners[i]!.bytes.byteOffset) overlaps++;
  }
  t.equal(overlaps, 0, 'no two live views share a byte');

  let changed = 0;
  for (const owner of [...live.values(), ...released]) {
    for (const view of owner.seen) if (!view.equals(pattern(owner.id, view.length))) changed++;
  }
  t.equal(changed, 0, 'every view ever handed out, live, moved away from or released, still holds what was written to it');
});

t.test('releasing every other answer compacts: live owners move, with their bytes, and the held bytes shrink', async (t) => {
  const slabs = new AnswerSlabs(SLAB);
  const owners = Array.from({ length: 400 }, (_, id) => allocate(slabs, id, 100));
  const heldBefore = slabs.heldBytes;
  for (const owner of owners.filter((owner) => owner.id % 2 === 1)) slabs.release(owner);
  look(owners);
  const kept = owners.filter((owner) => owner.id % 2 === 0);
  const moved = kept.filter((owner) => owner.seen.length > 1);
  t.ok(moved.length > kept.length / 2, `${moved.length} of ${kept.length} live answers moved into fuller slabs`);
  t.ok(kept.every((owner) => owner.bytes.equals(pattern(owner.id, 100))), 'each live owner’s bytes are as written');
  t.ok(moved.every((owner) => owner.seen[0]!.equals(owner.bytes)), 'the view it was moved away from still reads the same');
  t.equal(slabs.liveBytes, kept.length * 100);
  t.ok(slabs.heldBytes < heldBefore, `held bytes went down (${heldBefore} → ${slabs.heldBytes})`);
  checkHeldBound(t, slabs, SLAB);

  // Released again, and more: a slab with nothing live is dropped.
  for (const owner of kept) slabs.release(owner);
  t.equal(slabs.liveBytes, 0);
  t.equal(slabs.heldBytes, SLAB, 'only the current slab is held once nothing is live');
});

t.test('an answer over a quarter of a slab gets a buffer of its own, given back on release', async (t) => {
  const slabs = new AnswerSlabs(SLAB);
  const small = allocate(slabs, 1, 10);
  const large = allocate(slabs, 2, SLAB / 4 + 1);
  t.not(large.bytes.buffer, small.bytes.buffer, 'not in the shared slab');
  t.equal(large.bytes.buffer.byteLength, SLAB / 4 + 1, 'a buffer just its size');
  t.equal(slabs.heldBytes, SLAB + SLAB / 4 + 1);
  const quarter = allocate(slabs, 3, SLAB / 4);
  t.equal(quarter.bytes.buffer, small.bytes.buffer, 'a quarter of a slab still goes in the slab');
  slabs.release(large);
  t.equal(slabs.heldBytes, SLAB, 'released: no longer held');
  t.ok(large.bytes.equals(pattern(2, SLAB / 4 + 1)), 'and its bytes unchanged for whoever still has them');
});

t.test('release is idempotent, and ignores bytes that are not from the slabs', async (t) => {
  const slabs = new AnswerSlabs(SLAB);
  const a = allocate(slabs, 1, 100);
  const b = allocate(slabs, 2, 200);
  slabs.release(a);
  slabs.release(a);
  t.equal(slabs.liveBytes, 200, 'a second release gives nothing back twice');
  const notFromHere = Buffer.from('not from here');
  slabs.release({ memory: notFromHere, start: 0, end: notFromHere.length });
  slabs.release({ memory: b.memory, start: b.start, end: b.end });
  t.equal(slabs.liveBytes, 200, 'another owner cannot release b’s bytes');
  slabs.release(b);
  t.equal(slabs.liveBytes, 0);
});

t.test('misuse fails at once', async (t) => {
  const slabs = new AnswerSlabs();
  t.throws(() => slabs.allocate(0, owner(1)), TypeError, 'an empty answer would share its start with the next');
  t.throws(() => slabs.allocate(1.5, owner(2)), TypeError);
  t.throws(() => new AnswerSlabs(2), TypeError);
  t.equal(slabs.heldBytes, SLAB_BYTES, 'one slab of the default size');
});
