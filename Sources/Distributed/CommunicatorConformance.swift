// CommunicatorConformance.swift — one suite of checks that every Communicator implementation must
// pass: values against closed forms, chunked paths, every root, empty buffers, bitwise agreement.
// Every rank runs it; it lives in the library so the thread, single-process and MPI runs share it.

import Foundation

/// The communicator conformance suite.
public enum CommunicatorConformance {
    /// Runs every check on `comm` (every rank must call this) and returns this rank's failures.
    /// `large` is the element count of the buffers that exercise chunking.
    public static func run(_ comm: Communicator, large: Int = 300_007) -> [String] {
        var failures: [String] = []
        func expect(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { failures.append("rank \(comm.rank): \(what())") } }
        let (rank, size) = (comm.rank, comm.size)
        let roots = size > 1 ? [0, size - 1] : [0]  // an Array: Set order differs between processes

        expect(size >= 1 && (0 ..< size).contains(rank), "rank \(rank) outside 0..<\(size)")
        expect(comm.allGather([rank]) == Array(0 ..< size), "ranks are not distinct and ordered")

        // All-reduce of each element type and operation against closed forms.
        func reductions<T: CommScalar>(_ type: T.Type, _ make: (Int) -> T) {
            let base = (0 ..< 7).map { make(($0 + 1) * (rank + 1)) }
            var sum = base, high = base, low = base
            comm.allReduce(&sum, .sum)
            comm.allReduce(&high, .max)
            comm.allReduce(&low, .min)
            for i in 0 ..< 7 {
                expect(sum[i] == make((i + 1) * size * (size + 1) / 2), "allReduce sum \(T.self)[\(i)] = \(sum[i])")
                expect(high[i] == make((i + 1) * size), "allReduce max \(T.self)[\(i)] = \(high[i])")
                expect(low[i] == make(i + 1), "allReduce min \(T.self)[\(i)] = \(low[i])")
            }
        }
        reductions(Float.self) { Float($0) }
        reductions(Double.self) { Double($0) }
        reductions(Int.self) { $0 }

        // A large buffer crosses chunk boundaries; small integers keep the float sums exact.
        var big = (0 ..< large).map { Float(rank + $0 % 7) }
        comm.allReduce(&big, .sum)
        let bigOK = (0 ..< large).allSatisfy { big[$0] == Float(size * (size - 1) / 2 + size * ($0 % 7)) }
        expect(bigOK, "allReduce sum of \(large) floats differs from the closed form")

        // Every rank must receive bitwise the same result, also for inexact sums.
        var inexact = (0 ..< 1001).map { sin(Float($0) * 0.37 + Float(rank) * 1.3) * 1e3 }
        comm.allReduce(&inexact, .sum)
        let digest = inexact.reduce(0) { ($0 &* 31) &+ Int($1.bitPattern) }
        expect(comm.allReduce(digest, .max) == comm.allReduce(digest, .min), "allReduce results differ between ranks")

        // All-gather, gather and reduce-scatter, small and large.
        for n in [0, 5, large / size + 3] {
            let send = (0 ..< n).map { rank * 1_000_000 + $0 }
            let gathered = comm.allGather(send)
            let expected = (0 ..< size).flatMap { r in (0 ..< n).map { r * 1_000_000 + $0 } }
            expect(gathered == expected, "allGather of \(n) Ints per rank")
            let gatheredDoubles = comm.allGather(send.map(Double.init))
            expect(gatheredDoubles == expected.map(Double.init), "allGather of \(n) Doubles per rank")
            for root in roots {
                let atRoot = comm.gather(send.map(Float.init), root: root)
                expect(rank == root ? atRoot == expected.map(Float.init) : atRoot.isEmpty, "gather of \(n) Floats to root \(root)")
            }
            let contributions = (0 ..< n * size).map { Float(rank + $0) }
            var block = [Float](repeating: -1, count: n)
            contributions.withUnsafeBufferPointer { s in block.withUnsafeMutableBufferPointer { comm.reduceScatter(s, into: $0) } }
            let blockOK = (0 ..< n).allSatisfy { block[$0] == Float(size * (rank * n + $0) + size * (size - 1) / 2) }
            expect(blockOK, "reduceScatter of \(n) Floats per rank")
        }

        // Broadcast from the first and the last rank, of a small, a large and an empty buffer.
        for root in roots {
            for n in [0, 13, 4 * large + 1] {
                var bytes = [UInt8](repeating: rank == root ? 0 : 0xFF, count: n)
                if rank == root { for i in 0 ..< n { bytes[i] = UInt8(truncatingIfNeeded: i &* 7 &+ root) } }
                bytes.withUnsafeMutableBytes { comm.broadcast($0, root: root) }
                let ok = (0 ..< n).allSatisfy { bytes[$0] == UInt8(truncatingIfNeeded: $0 &* 7 &+ root) }
                expect(ok, "broadcast of \(n) bytes from root \(root)")
            }
        }
        let message = (try? comm.broadcast(value: rank == 0 ? ["coordinator", "says"] : nil, root: 0)) ?? []
        expect(message == ["coordinator", "says"], "broadcast of a Codable value")
        let unknownLength = comm.broadcast(rank == 0 ? [1.5, 2.5, 3.5] : [Double](), root: 0)
        expect(unknownLength == [1.5, 2.5, 3.5], "broadcast of an array whose length only the root knows")

        // Gradient buckets on the world, then on a duplicate driven by a second thread while this thread
        // makes collectives of its own on the world.
        failures += gradientChecks(comm, large: large, label: "world")
        if let copy = comm.duplicate() {
            let finished = DispatchSemaphore(value: 0)
            let fromThread = FailureList()
            let thread = Thread {
                fromThread.items = gradientChecks(copy, large: large, label: "duplicate on a second thread")
                finished.signal()
            }
            thread.stackSize = 16 << 20
            thread.start()
            for round in 0 ..< 50 {
                var values = (0 ..< 257).map { Float(rank + $0 + round) }
                comm.allReduce(&values, .sum)
                expect((0 ..< 257).allSatisfy { values[$0] == Float(size * ($0 + round) + size * (size - 1) / 2) },
                       "world allReduce \(round) while the duplicate works")
            }
            finished.wait()
            failures += fromThread.items
        }

        comm.barrier()
        return failures
    }

    /// `allReduceGradient` in both wires: exact sums of small integers (exact in bfloat16 too) for sizes
    /// around the rank count, and on inexact values the same bits on every rank within the wire's rounding.
    private static func gradientChecks(_ comm: Communicator, large: Int, label: String) -> [String] {
        var failures: [String] = []
        func expect(_ ok: Bool, _ what: @autoclosure () -> String) { if !ok { failures.append("rank \(comm.rank), \(label): \(what())") } }
        let (rank, size) = (comm.rank, comm.size)
        for wire in GradientWire.allCases {
            for n in Set([0, 1, max(0, size - 1), size, size + 1, 1001, large]).sorted() {
                var values = (0 ..< n).map { Float((rank + 1) * ($0 % 5 + 1)) }
                values.withUnsafeMutableBufferPointer { comm.allReduceGradient($0, wire: wire) }
                expect((0 ..< n).allSatisfy { values[$0] == Float(($0 % 5 + 1) * size * (size + 1) / 2) }, "allReduceGradient(\(wire)) of \(n) exact values")
            }
            let count = 4099
            var inexact = (0 ..< count).map { sin(Float($0) * 0.37 + Float(rank) * 1.3) }
            inexact.withUnsafeMutableBufferPointer { comm.allReduceGradient($0, wire: wire) }
            let digest = inexact.reduce(0) { ($0 &* 31) &+ Int($1.bitPattern) }
            expect(comm.allReduce(digest, .max) == comm.allReduce(digest, .min), "allReduceGradient(\(wire)) results differ between ranks")
            // Each rounding to bfloat16 errs by at most 2⁻⁹ of the value; a sum meets 2W − 1 of them.
            let bound = wire == .f32 ? 1e-5 * Double(size) : Double(2 * size) / 512 * Double(size)
            let close = (0 ..< count).allSatisfy { i in
                abs(Double(inexact[i]) - (0 ..< size).reduce(0.0) { $0 + sin(Double(Float(i) * 0.37 + Float($1) * 1.3)) }) <= bound
            }
            expect(close, "allReduceGradient(\(wire)) of inexact values beyond its rounding")
        }
        return failures
    }
}

/// Failures found on another thread, read after it has signalled.
private final class FailureList: @unchecked Sendable {
    var items: [String] = []
}
