// TensorMemoryTests.swift — released tensor storage is reused by the next tensor that grows (best fit,
// never more than twice the request), and the byte counts follow allocation, release and reuse.

import Tensors
import XCTest

final class TensorMemoryTests: XCTestCase {
    override func tearDown() { TensorMemory.freeReleasedStorage() }

    func testReleasedStorageGoesToTheNextTensorThatGrows() {
        TensorMemory.freeReleasedStorage()
        let live = TensorMemory.liveBytes
        // Sizes no other test uses, so no other released block fits.
        let large = Tensor([123_457]), small = Tensor([40_009])
        XCTAssertEqual(TensorMemory.liveBytes - live, 4 * (123_457 + 40_009))
        let (largeStorage, smallStorage) = (large.data, small.data)
        large.release()
        small.release()
        XCTAssertEqual(large.shape, [0])
        XCTAssertEqual(large.count, 0)
        XCTAssertEqual(TensorMemory.liveBytes, live)
        XCTAssertEqual(TensorMemory.pooledBytes, 4 * (123_457 + 40_009))

        // A request under half a block's size does not take it.
        let tiny = Tensor([1_000])
        XCTAssertNotEqual(tiny.data, largeStorage)
        XCTAssertNotEqual(tiny.data, smallStorage)
        XCTAssertEqual(TensorMemory.pooledBytes, 4 * (123_457 + 40_009))
        // A request between the two takes the large block (the small one is too small).
        let grown = Tensor()
        grown.reshape([100_000])
        XCTAssertEqual(grown.data, largeStorage)
        XCTAssertEqual(grown.capacity, 123_457)
        // The released tensor grows again from the pool too.
        small.reshape([30_000])
        XCTAssertEqual(small.data, smallStorage)
        XCTAssertEqual(TensorMemory.pooledBytes, 0)
        XCTAssertEqual(TensorMemory.liveBytes - live, 4 * (123_457 + 40_009 + 1_000))

        // Releasing twice is harmless; freeing the pool returns its bytes.
        grown.release()
        grown.release()
        XCTAssertEqual(TensorMemory.pooledBytes, 4 * 123_457)
        TensorMemory.freeReleasedStorage()
        XCTAssertEqual(TensorMemory.pooledBytes, 0)
    }

    func testPeakFollowsTheMostHeldAtOnce() {
        TensorMemory.freeReleasedStorage()
        TensorMemory.resetPeak()
        let start = TensorMemory.liveBytes
        do {
            let a = Tensor([50_000])
            a.release()
            _ = Tensor([20_000])
        }
        // At least the larger tensor, never both at once.
        XCTAssertGreaterThanOrEqual(TensorMemory.peakBytes - start, 4 * 50_000)
        XCTAssertLessThan(TensorMemory.peakBytes - start, 4 * 70_000)
        XCTAssertEqual(TensorMemory.liveBytes, start)
    }

    func testResidentSetLinesWithAndWithoutPadding() {
        let status = "Name:\trefclip\nVmHWM:\t12791808 kB\nVmRSS:\t  842000 kB\n"
        XCTAssertEqual(TensorMemory.kilobytes("VmHWM", in: status), 12_791_808)
        XCTAssertEqual(TensorMemory.kilobytes("VmRSS", in: status), 842_000)
        XCTAssertNil(TensorMemory.kilobytes("VmSwap", in: status))
        XCTAssertNotNil(TensorMemory.residentBytes(), "Linux reports the resident set")
    }
}
