// StoragePool.swift — storage that tensors give back with `release()` once its contents are dead (a
// gradient consumed by the layer below, a convolution's unfolded columns), kept for the next tensor
// that grows. A training step releases and regrows the same sizes every time, so after the first step
// its temporaries come from here without touching the allocator, and layers whose temporaries live at
// different times share the same memory: the peak is what is live at once, not the sum of every buffer.

import Synchronization

/// The process-wide pool of released tensor storage, best fit by capacity.
enum StoragePool {
    private struct Block {
        var address: Int, capacity: Int
    }

    private static let blocks = Mutex<[Block]>([])

    /// A block holds a request only up to this many times its size, so a small temporary does not take
    /// the storage a large one will ask for.
    private static let slack = 2

    /// Keeps `capacity` floats at `pointer` for a later `take`.
    static func give(_ pointer: UnsafeMutablePointer<Float>, capacity: Int) {
        blocks.withLock { $0.append(Block(address: Int(bitPattern: pointer), capacity: capacity)) }
        TensorMemory.pooled(capacity * MemoryLayout<Float>.stride)
    }

    /// The smallest kept block of at least `count` floats (and at most `slack` times that), with its
    /// capacity; nil when none fits.
    static func take(atLeast count: Int) -> (pointer: UnsafeMutablePointer<Float>, capacity: Int)? {
        let block: Block? = blocks.withLock { blocks in
            var best: Int?
            for (i, block) in blocks.enumerated() where block.capacity >= count && block.capacity / slack <= count {
                if best == nil || block.capacity < blocks[best!].capacity { best = i }
            }
            return best.map { blocks.remove(at: $0) }
        }
        guard let block, let pointer = UnsafeMutablePointer<Float>(bitPattern: block.address) else { return nil }
        TensorMemory.unpooled(block.capacity * MemoryLayout<Float>.stride)
        return (pointer, block.capacity)
    }

    /// Frees every kept block.
    static func drain() {
        let all = blocks.withLock { blocks in defer { blocks.removeAll() }; return blocks }
        for block in all {
            UnsafeMutablePointer<Float>(bitPattern: block.address)?.deallocate()
            TensorMemory.unpooled(block.capacity * MemoryLayout<Float>.stride)
        }
    }
}
