using PleSim.Engine;
using PleSim.Guest;
using PleSim.Host;
using PleSim.Hypervisor;

namespace PleSim.Workloads.Tests;

/// <summary>
/// hackbench (rt-tests hackbench.c / perf bench sched messaging) over the 2.6.39 AF_UNIX stream
/// and pipe paths: delivery, blocking on a full sk_sndbuf or pipe, the end of the run,
/// determinism. Small hand-checkable configurations; no published figure is asserted.
/// </summary>
public class HackbenchTests
{
    private sealed class Kit
    {
        public Kit(int cpus, int vcpus, HackbenchSettings s, string handler = "directed-yield-2011")
        {
            Sim = new Simulator();
            var host = new HostScheduler(Sim, HostTopology.Cpus(cpus), new SchedTunables { TickJitter = SimDuration.Zero }, null, new RandomStreams(1));
            var kvm = new Kvm(host, new KvmSettings { PleHandler = handler }, TscFrequency.FromMegahertz(2900));
            Vm = kvm.CreateVm("vm", vcpus, host.Topology.AllMask);
            Kernel = new GuestKernel(kvm, Vm, new GuestSettings());
            Hb = new Hackbench(Kernel, s, () =>
            {
                Done++;
                DoneAt = Sim.Now.Ns;
                Sim.Stop();
            });
            Sim.Invariants.Enable(1);
            Kernel.Start();
            kvm.Start(Vm);
        }

        public Simulator Sim { get; }
        public Vm Vm { get; }
        public GuestKernel Kernel { get; }
        public Hackbench Hb { get; }
        public int Done;
        public long DoneAt = -1;

        public void Run(long ms = 2_000) => Sim.RunUntil(new SimTime(ms * 1_000_000));
    }

    private static HackbenchSettings Small(HackbenchIpc ipc = HackbenchIpc.Socket) => new() { Groups = 2, Fds = 3, Loops = 7, Ipc = ipc };

    [Theory]
    [InlineData(HackbenchIpc.Socket)]
    [InlineData(HackbenchIpc.Pipe)]
    public void Every_message_is_delivered_exactly_once_and_the_run_ends_when_the_last_receiver_has_all(HackbenchIpc ipc)
    {
        var s = Small(ipc);
        var kit = new Kit(2, 2, s);
        kit.Run();
        // 2 groups × 3 senders × 3 receivers × 7 loops.
        Assert.Equal(2 * 3 * 3 * 7, s.TotalMessages);
        Assert.Equal(s.TotalMessages, kit.Hb.Sent);
        Assert.Equal(s.TotalMessages, kit.Hb.Received);
        foreach (var r in kit.Hb.Receivers)
        {
            Assert.Equal(3 * 7, r.Program.Got);   // fds × loops each
            Assert.Equal(0, r.Queued);
            Assert.Equal(0, r.WmemAlloc);         // every skb freed: sk_wmem_alloc back to 0
            Assert.Equal(0, r.NrBufs);
        }
        Assert.Equal(1, kit.Done);                 // the end is signalled once ...
        Assert.Equal(kit.DoneAt, kit.Hb.CompletedAt);
        Assert.Equal(kit.DoneAt, kit.Sim.Now.Ns);  // ... and stops the run there
        Assert.True(kit.Hb.CompletedAt > 0);
        Assert.All(kit.Kernel.Threads, t => Assert.Equal(PleSim.Guest.ThreadState.Done, t.State)); // senders and receivers all exited
    }

    [Fact]
    public void A_sender_sleeps_on_a_full_socket_buffer_and_the_reader_wakes_it()
    {
        // sk_sndbuf of two skbs: the third message to a receiver not yet read finds
        // sk_wmem_alloc ≥ sk_sndbuf (sock_alloc_send_pskb) and sleeps in sock_wait_for_wmem.
        var s = Small() with { SndBuf = 2 * new HackbenchSettings().TrueSize };
        var kit = new Kit(2, 2, s);
        kit.Run();
        Assert.True(kit.Hb.SenderSleeps > 0);
        Assert.Equal(s.TotalMessages, kit.Hb.Received); // and every sleeper was woken (unix_write_space)
        Assert.True(kit.Hb.MaxQueued <= 2);             // never more in flight than the buffer holds
        var roomy = new Kit(2, 2, Small() with { SndBuf = 1 << 30 });
        roomy.Run();
        Assert.Equal(0, roomy.Hb.SenderSleeps);
    }

    [Fact]
    public void A_pipe_writer_sleeps_when_all_page_buffers_are_full()
    {
        // Two messages fill a page (2 × 2048); one page buffer: the third write waits.
        var s = Small(HackbenchIpc.Pipe) with { DataSize = 2048, PipeBuffers = 1 };
        var kit = new Kit(2, 2, s);
        kit.Run();
        Assert.True(kit.Hb.SenderSleeps > 0);
        Assert.True(kit.Hb.MaxQueued <= 2);
        Assert.Equal(s.TotalMessages, kit.Hb.Received);
        Assert.True(kit.Hb.MutexContended > 0); // three senders and a reader share each pipe's mutex
    }

    [Fact]
    public void A_reader_that_finds_its_queue_empty_sleeps_and_a_wakeup_to_another_vcpu_is_an_ipi()
    {
        // One sender, one receiver, four VCPUs: the receiver's VCPU goes idle whenever it caught up,
        // and the sender's wake-up (sock_def_readable) finds it there (its previous CPU, idle).
        var kit = new Kit(4, 4, new HackbenchSettings { Groups = 1, Fds = 1, Loops = 50 });
        kit.Run();
        Assert.Equal(50, kit.Hb.Received);
        Assert.True(kit.Hb.ReceiverSleeps > 0);
        Assert.True(kit.Kernel.Cpus.Sum(c => c.ReschedIpisSent) > 0);
        Assert.True(kit.Vm.Vcpus.Sum(v => v.Stats.IpiExits) > 0);
    }

    [Theory]
    [InlineData(HackbenchIpc.Socket)]
    [InlineData(HackbenchIpc.Pipe)]
    public void The_same_setup_gives_the_same_run(HackbenchIpc ipc)
    {
        var a = new Kit(2, 4, Small(ipc));
        var b = new Kit(2, 4, Small(ipc));
        a.Run();
        b.Run();
        Assert.Equal(a.Hb.CompletedAt, b.Hb.CompletedAt);
        Assert.Equal(a.Sim.EventsFired, b.Sim.EventsFired);
        Assert.Equal(a.Hb.SenderSleeps, b.Hb.SenderSleeps);
    }
}
