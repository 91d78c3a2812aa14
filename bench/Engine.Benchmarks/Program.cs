using BenchmarkDotNet.Running;

namespace Engine.Benchmarks;

/// <summary>Entry point: BenchmarkDotNet's switcher, so `--filter`, `--job` and `--list` work as documented.</summary>
public static class Program
{
    /// <summary>Runs the benchmarks the command line selects.</summary>
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
