using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>Entry point: BenchmarkDotNet's switcher, so `--filter`, `--job`, `--inProcess` and `--list` work as documented.</summary>
public static class Program
{
    /// <summary>
    /// Out of process, BenchmarkDotNet first builds a generated project with every Engine library; on a shared
    /// 2-core machine that takes longer than its default two minutes, so it gets ten.
    /// </summary>
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Runs the benchmarks the command line selects.</summary>
    public static void Main(string[] args) =>
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(BuildTimeout));
}
