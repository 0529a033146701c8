// KeyedRandomTests.swift — keyed streams are pure functions of their key path and distributed as
// claimed.

import Tensors
import XCTest

final class KeyedRandomTests: XCTestCase {
    func testStreamsArePureFunctionsOfTheirKeys() {
        let a = RandomKey(seed: 7).child("dropout").child(3).child(11)
        let b = RandomKey(seed: 7).child("dropout").child(3).child(11)
        XCTAssertEqual((0 ..< 100).map(a.bits), (0 ..< 100).map(b.bits))
        let other = [RandomKey(seed: 8).child("dropout").child(3).child(11), RandomKey(seed: 7).child("init").child(3).child(11),
                     RandomKey(seed: 7).child("dropout").child(4).child(11), RandomKey(seed: 7).child("dropout").child(11).child(3)]
        for key in other { XCTAssertNotEqual(key.bits(0), a.bits(0)) }
    }

    func testUniformAndNormalMoments() {
        let key = RandomKey(seed: 1)
        let n = 200_000
        let u = (0 ..< n).map { Double(key.uniform($0)) }
        XCTAssertTrue(u.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(u.reduce(0, +) / Double(n), 0.5, accuracy: 0.005)
        let z = (0 ..< n).map { Double(key.child("n").normal($0)) }
        let mean = z.reduce(0, +) / Double(n)
        let variance = z.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        XCTAssertEqual(mean, 0, accuracy: 0.01)
        XCTAssertEqual(variance, 1, accuracy: 0.02)
        var counts = [Int](repeating: 0, count: 5)
        for i in 0 ..< n { counts[key.index(i, below: 5)] += 1 }
        for c in counts { XCTAssertEqual(Double(c) / Double(n), 0.2, accuracy: 0.01) }
    }

    func testSequentialGeneratorFollowsTheStream() {
        let key = RandomKey(seed: 3)
        var generator = KeyedGenerator(key)
        XCTAssertEqual((0 ..< 10).map { _ in generator.next() }, (0 ..< 10).map(key.bits))
        XCTAssertEqual(generator.position, 10)
    }
}
