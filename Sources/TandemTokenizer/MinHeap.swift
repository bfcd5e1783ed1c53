// The priority queue both merge loops run on: byte-level BPE's (rank, position) keys and the
// SentencePiece-style merges' scored bigrams. A plain binary heap in an array, smallest on top,
// reused across calls (`removeAll` keeps the capacity).

/// A binary min-heap: `pop` returns the smallest element by `<`.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }

    mutating func push(_ x: Element) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard x < items[parent] else { break }
            items[i] = items[parent]
            i = parent
        }
        items[i] = x
    }

    mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return top }
        var i = 0
        let n = items.count
        while true {
            let l = 2 * i + 1
            if l >= n { break }
            let r = l + 1
            let child = r < n && items[r] < items[l] ? r : l
            guard items[child] < last else { break }
            items[i] = items[child]
            i = child
        }
        items[i] = last
        return top
    }
}
