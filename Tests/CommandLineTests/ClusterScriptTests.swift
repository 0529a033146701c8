// ClusterScriptTests.swift — the launch scripts of cluster/: every script parses (bash -n); the Slurm
// batch scripts' dry runs print the exact srun line; outside Slurm launch.sh builds the mpirun line
// from a hostfile, and really trains on 2 local ranks through it.

import Foundation
import TestSupport
import XCTest

final class ClusterScriptTests: XCTestCase {
    private let cluster = packageRoot.appendingPathComponent("cluster").path

    private func bash(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        // Start from a clean slate: no Slurm or kernel variables of the machine running the tests leak in.
        let inherited = ["SLURM_JOB_ID", "SLURM_NTASKS", "SLURM_CPUS_PER_TASK", "SLURM_SUBMIT_DIR", "OPENBLAS_CORETYPE", "REFCLIP_BLAS_CORETYPE"]
        return try runProcess("/bin/bash", arguments, environment: environment, removing: inherited.filter { environment[$0] == nil })
    }

    func testEveryScriptParses() throws {
        let scripts = ["env.sh", "launch.sh", "elastic.sh", "harness/netns.sh", "harness/rsh-agent.sh", "harness/common.sh",
                       "harness/test-cluster.sh", "harness/test-elastic.sh", "harness/bench-scale.sh"]
            + ["extract", "teacher", "pseudo-label", "student"].map { "slurm/\($0).sbatch" }
        for script in scripts {
            let (status, output) = try bash(["-n", cluster + "/" + script])
            XCTAssertEqual(status, 0, "\(script): \(output)")
        }
    }

    func testSlurmDryRunsPrintTheSrunLine() throws {
        // scontrol as Slurm would answer for an allocation of node01–node04.
        let fakeBin = RefclipWorkspace.root.path + "/fake-slurm"
        try FileManager.default.createDirectory(atPath: fakeBin, withIntermediateDirectories: true)
        try "#!/bin/sh\n[ \"$1 $2\" = \"show hostnames\" ] && printf 'node01\\nnode02\\nnode03\\nnode04\\n'\n"
            .write(toFile: fakeBin + "/scontrol", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fakeBin + "/scontrol")
        let slurm = ["SLURM_JOB_ID": "42", "SLURM_NTASKS": "8", "SLURM_CPUS_PER_TASK": "16", "SLURM_SUBMIT_DIR": packageRoot.path,
                     "SLURM_JOB_NODELIST": "node[01-04]", "SLURM_JOB_NUM_NODES": "4", "REFCLIP_DRY_RUN": "1", "REFCLIP_BIN": "refclip",
                     "PATH": fakeBin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")]
        let srun = "srun --mpi=pmix --kill-on-bad-exit=1 --cpu-bind=cores"
        let expected = [
            // The training jobs run under the elastic supervisor: every node of the allocation while all answer.
            "teacher": "\(srun) --nodes=4 --ntasks=8 --cpus-per-task=16 refclip train --config configs/refcoco-teacher.yaml --resume auto",
            "student": "\(srun) --nodes=4 --ntasks=8 --cpus-per-task=16 refclip train --config configs/refcoco-student.yaml --resume auto",
            "extract": "\(srun) --ntasks=8 --cpus-per-task=16 refclip extract --config configs/refcoco-extract.yaml",
            "pseudo-label": "\(srun) --ntasks=8 --cpus-per-task=16 refclip pseudo-label --checkpoint runs/refcoco-teacher/best.refclip --out runs/refcoco-teacher/pseudo-labels.json",
        ]
        for (name, command) in expected {
            let (status, output) = try bash([cluster + "/slurm/\(name).sbatch"], environment: slurm)
            XCTAssertEqual(status, 0, output)
            XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines), "\(command) --blas-threads 16", name)
        }
        // Outside Slurm the supervisor launches mpirun over the hostfile's hosts, adding --resume auto
        // (printed shell-quoted, as launch.sh prints it: commas escaped).
        let (status, output) = try bash([cluster + "/launch.sh", "--elastic", "2:3", "train", "--config", "c.yaml"],
                                        environment: ["REFCLIP_HOSTFILE": cluster + "/hostfile.example", "REFCLIP_DRY_RUN": "1", "REFCLIP_BIN": "refclip"])
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines),
                       #"mpirun -np 6 --host node01:2\,node02:2\,node03:2 -x "#
                           + "OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS -x REFCLIP_RESTART "
                           + "refclip train --config c.yaml --resume auto --blas-threads 1")
        let (refused, message) = try bash([cluster + "/launch.sh", "--elastic", "3:2", "train"], environment: ["REFCLIP_HOSTFILE": cluster + "/hostfile.example"])
        XCTAssertEqual(refused, 2, message)
        XCTAssertTrue(message.contains("MIN ≤ MAX"), message)
    }

    func testOutsideSlurmTheHostfileMakesTheMpirunLine() throws {
        let (status, output) = try bash([cluster + "/launch.sh", "train", "--config", "c.yaml"],
                                        environment: ["REFCLIP_HOSTFILE": cluster + "/hostfile.example", "REFCLIP_DRY_RUN": "1",
                                                      "REFCLIP_BIN": "refclip", "REFCLIP_THREADS_PER_RANK": "4", "REFCLIP_IFACE": "eth1"])
        XCTAssertEqual(status, 0, output)
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "mpirun -np 8 --hostfile \(cluster)/hostfile.example --map-by slot:PE=4 --bind-to core -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS "
                           + "--mca btl_tcp_if_include eth1 --mca oob_tcp_if_include eth1 refclip train --config c.yaml --blas-threads 4")
        // One kernel for every node: forced through OPENBLAS_CORETYPE, which mpirun forwards to every host.
        let (forcedStatus, forced) = try bash([cluster + "/launch.sh", "train"],
                                              environment: ["REFCLIP_HOSTFILE": cluster + "/hostfile.example", "REFCLIP_DRY_RUN": "1",
                                                            "REFCLIP_BIN": "refclip", "REFCLIP_BLAS_CORETYPE": "HASWELL"])
        XCTAssertEqual(forcedStatus, 0, forced)
        XCTAssertTrue(forced.contains("-x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS -x OPENBLAS_CORETYPE refclip train"), forced)
        let (refused, message) = try bash([cluster + "/launch.sh", "train"])
        XCTAssertNotEqual(refused, 0)
        XCTAssertTrue(message.contains("REFCLIP_HOSTFILE"), message)
    }

    func testLaunchTrainsOnTwoLocalRanks() throws {
        let hostfile = RefclipWorkspace.root.path + "/hostfile"
        try "localhost slots=2\n".write(toFile: hostfile, atomically: true, encoding: .utf8)
        // launch.sh appends --blas-threads itself: drop the workspace's own.
        var arguments = try RefclipWorkspace.train("launched", ["--set", "train.max_steps=2"])
        if let flag = arguments.firstIndex(of: "--blas-threads") { arguments.removeSubrange(flag ... flag + 1) }
        let (status, output) = try bash([cluster + "/launch.sh"] + arguments,
                                        environment: ["REFCLIP_HOSTFILE": hostfile, "REFCLIP_BIN": try RefclipWorkspace.binary()])
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("on 2 ranks") && output.contains("step 2/2"), output)
    }
}
