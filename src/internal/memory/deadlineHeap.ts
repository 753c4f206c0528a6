/**
 * A binary min-heap of deadlines that holds each item at most once.
 *
 * Items carry their own position (`heapIndex`), so an item can move or leave
 * in O(log n) without a search, and a refresh never adds a second entry: the
 * heap's size is the number of keys with a TTL, whatever the refresh rate.
 */
export interface HeapItem {
  /** The deadline this item is queued at, epoch millis. */
  at: number
  /** Position in the heap, or -1 when not queued. */
  heapIndex: number
}

export class DeadlineHeap<A extends HeapItem> {
  private readonly items: Array<A> = []

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  /** Queues `item` at `at`, or moves it there if it is queued already. */
  set(item: A, at: number): void {
    if (item.heapIndex < 0) {
      item.at = at
      item.heapIndex = this.items.length
      this.items.push(item)
      this.up(item.heapIndex)
    } else {
      const later = at > item.at
      item.at = at
      if (later) this.down(item.heapIndex)
      else this.up(item.heapIndex)
    }
  }

  remove(item: A): void {
    const i = item.heapIndex
    if (i < 0) return
    item.heapIndex = -1
    const last = this.items.pop()!
    if (last === item) return
    this.items[i] = last
    last.heapIndex = i
    this.down(i)
    this.up(last.heapIndex)
  }

  private swap(i: number, j: number): void {
    const a = this.items
    const x = a[i]!
    const y = a[j]!
    a[i] = y
    a[j] = x
    x.heapIndex = j
    y.heapIndex = i
  }

  private up(i: number): void {
    const a = this.items
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (a[parent]!.at <= a[i]!.at) return
      this.swap(parent, i)
      i = parent
    }
  }

  private down(i: number): void {
    const a = this.items
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < a.length && a[l]!.at < a[min]!.at) min = l
      if (r < a.length && a[r]!.at < a[min]!.at) min = r
      if (min === i) return
      this.swap(min, i)
      i = min
    }
  }
}
