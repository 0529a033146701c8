// ScaleBenchmarks.swift — `refclip-bench scale`, what distribution costs on a real link: run under
// mpirun with one rank per host (cluster/harness/bench-scale.sh does, over shaped namespace links).
//
// 1. All-reduce of 4 KiB to 64 MiB of float32: the communicator's allReduce, one plain MPI_Allreduce,
//    and allReduceGradient in f32 and bf16, interleaved round by round — bandwidth, and the bytes each
//    put on this host's interface (its kernel counter, /sys/class/net/IFACE/statistics/tx_bytes).
// 2. Teacher and student training steps at the reference size, global batch 8: step time and the time
//    the step waited for gradient buckets, with overlap off and on, f32 and bf16 on the wire. The
//    compute-only step is the overlap-off step less its wait (the buckets are then summed after
//    backward, all of it exposed).
// Every row is also one JSON line ("scale-json: {...}") for cluster/harness/scale_model.py.

import CMPI
import Distributed
import Foundation
import Models
import Tensors
import Training

func runScaleBenchmark(_ comm: Communicator) {
    guard let world = comm as? MPICommunicator, world.size > 1, world.servesThreads else {
        print("scale: run under mpirun with 2 or more ranks and an MPI library with MPI_THREAD_MULTIPLE")
        return
    }
    setBLASThreads(1)
    let environment = ProcessInfo.processInfo.environment
    if let poll = environment["REFCLIP_BENCH_POLL_US"].flatMap(useconds_t.init) { world.pollMicroseconds = poll }
    let link = environment["REFCLIP_BENCH_LINK"] ?? "unlabelled"
    let interface = environment["REFCLIP_BENCH_IFACE"] ?? "eth0"
    let sent = InterfaceCounter(interface)
    let ring = world.duplicate()!
    func emit(_ record: [String: Any]) {
        guard world.isRoot else { return }
        var full = record
        (full["link"], full["hosts"]) = (link, world.size)
        if let data = try? JSONSerialization.data(withJSONObject: full, options: [.sortedKeys]) { print("scale-json: " + String(decoding: data, as: UTF8.self)) }
    }

    // REFCLIP_BENCH_PARTS: any of allreduce, teacher, student (default all).
    let parts = Set((environment["REFCLIP_BENCH_PARTS"] ?? "allreduce,teacher,student").split(separator: ",").map(String.init))
    if world.isRoot && parts.contains("allreduce") { reportHeader("All-reduce over \(world.size) hosts, link \(link)") }
    for kib in [4, 256, 1024, 4096, 16384, 65536] where parts.contains("allreduce") {
        let count = kib << 8, mib = Double(kib) / 1024
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        let methods: [(String, () -> Void)] = [
            ("Communicator.allReduce (\(world.chunkBytes >> 20) MiB chunks)", { world.allReduce(buffer, .sum) }),
            ("one MPI_Allreduce", {
                _ = MPI_Allreduce(refclip_mpi_in_place(), buffer.baseAddress, Int32(count), refclip_mpi_float(), refclip_mpi_sum(),
                                  refclip_mpi_comm_world())
            }),
            ("allReduceGradient, f32 (ring across nodes)", { ring.allReduceGradient(buffer, wire: .f32) }),
            ("allReduceGradient, bf16 (ring)", { ring.allReduceGradient(buffer, wire: .bf16) }),
        ]
        buffer.initialize(repeating: 1e-3)
        let timed = methods.map { _, call in { world.barrier(); call(); world.barrier() } }
        let seconds = interleavedMedianSeconds(repeats: kib >= 16384 ? 5 : 9, timed)
        let plain = Double(count * 4) / seconds[1] / 1e9
        for ((name, call), time) in zip(methods, seconds) {
            world.barrier()
            let before = sent.bytes
            call()
            let onWire = sent.bytes.map { $0 - (before ?? $0) }
            world.barrier()
            let rate = Double(count * 4) / time / 1e9
            if world.isRoot {
                let wire = onWire.map { String(format: ", %.1f MiB sent by this host", Double($0) / 1_048_576) } ?? ""
                report("\(kib < 1024 ? "\(kib) KiB" : "\(kib / 1024) MiB"): \(name)", String(format: "%.3f GB/s (%.2f ms)", rate, time * 1000),
                       (name != "one MPI_Allreduce" ? String(format: "%.2f × plain", rate / plain) : "") + wire)
            }
            emit(["kind": "allreduce", "method": name, "mib": mib, "seconds": time, "sent_bytes": onWire ?? -1])
        }
    }

    let globalBatch = 8, perRank = globalBatch / world.size
    for (title, parameters, makeStep) in [("teacher", RefCLIPTeacher(shape: referenceTeacher, seed: 1).params.count, teacherSteps),
                                          ("student", SimRECStudent(shape: referenceStudent, seed: 1).params.count, studentSteps)]
        as [(String, Int, StepMaker)] where parts.contains(title) {
        if world.isRoot {
            reportHeader(String(format: "%@ step, reference size (%.1f M parameters), global batch %d over %d hosts, link %@",
                                title, Double(parameters) / 1e6, globalBatch, world.size, link))
        }
        var computeOnly = 0.0
        // REFCLIP_BENCH_BUCKETS: more bucket sizes (MiB) to run overlapped in f32 after the four defaults.
        let extraBuckets = (environment["REFCLIP_BENCH_BUCKETS"] ?? "").split(separator: ",").compactMap { Double($0) }
        let configurations = [(false, GradientWire.f32, 8.0), (true, .f32, 8), (false, .bf16, 8), (true, .bf16, 8)] + extraBuckets.map { (true, .f32, $0) }
        for (overlap, wire, bucketMB) in configurations {
            let run = makeStep(world, perRank, GradientSyncSettings(bucketBytes: Int(bucketMB * 1_048_576), overlap: overlap, wire: wire))
            _ = run(0)
            var steps: [Double] = [], waits: [Double] = [], windows: [Double] = [], bytes: [Int] = [], cpu: [Double] = []
            for n in 1 ... 3 {
                world.barrier()
                let before = sent.bytes, start = DispatchTime.now().uptimeNanoseconds, cpuBefore = processCPUSeconds()
                let reducer = run(n)
                steps.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                cpu.append(processCPUSeconds() - cpuBefore)
                (waits, windows) = (waits + [reducer.lastWait], windows + [reducer.lastWindow])
                if let before, let after = sent.bytes { bytes.append(after - before) }
            }
            let median = { (values: [Double]) in values.sorted()[values.count / 2] }
            let (step, wait) = (median(steps), median(waits))
            if !overlap && wire == .f32 { computeOnly = median(zip(steps, waits).map { $0 - $1 }) }
            let sentMiB = bytes.isEmpty ? -1 : Double(bytes.sorted()[bytes.count / 2]) / 1_048_576
            if world.isRoot {
                if !overlap && wire == .f32 { report("compute only (overlap off, less its wait)", String(format: "%.3f s", computeOnly)) }
                report("overlap \(overlap ? "on" : "off"), \(wire)" + (bucketMB == 8 ? "" : String(format: ", %g MiB buckets", bucketMB)), String(format: "%.3f s per step (%.2f samples/s)", step, Double(globalBatch) / step),
                       String(format: "%.2f × compute; exposed communication %.0f%% of the step; waited %.3f s; %.1f MiB sent per step; CPU %.2f s",
                              step / computeOnly, 100 * max(0, step - computeOnly) / step, wait, sentMiB, median(cpu)))
            }
            emit(["kind": "step", "model": title, "overlap": overlap, "wire": wire.rawValue, "per_rank": perRank, "parameters": parameters,
                  "step": step, "wait": wait, "window": median(windows), "compute": computeOnly, "sent_bytes": sentMiB * 1_048_576,
                  "cpu": median(cpu), "bucket_mib": bucketMB])
        }
    }
}

/// The bytes an interface has sent, from the kernel's counter (nil where the interface has none).
private struct InterfaceCounter {
    let path: String
    init(_ interface: String) { path = "/sys/class/net/\(interface)/statistics/tx_bytes" }
    var bytes: Int? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}

/// CPU seconds this process has used, user and system, all threads.
private func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let time = { (t: timeval) in Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return time(usage.ru_utime) + time(usage.ru_stime)
}
