using System.Diagnostics;

namespace Engine.Cli;

/// <summary>A one-line progress bar on stderr (percent, bytes, rate), redrawn at most ten times a second.</summary>
internal sealed class ProgressReporter(long total) : IProgress<long>, IDisposable
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Lock _lock = new();
    private long _lastDraw = -1000;
    private bool _finished;

    /// <summary>What 100% is; may grow while the work runs (a backup finds dirty regions as it goes).</summary>
    public long Total { get; set; } = total;

    public void Report(long value)
    {
        var now = _clock.ElapsedMilliseconds;
        lock (_lock)
        {
            if (_finished || now - _lastDraw < 100)
            {
                return;
            }

            _lastDraw = now;
            Draw(value);
        }
    }

    public void Finish()
    {
        lock (_lock)
        {
            if (!_finished)
            {
                Draw(Total);
                Console.Error.WriteLine();
                _finished = true;
            }
        }
    }

    public void Dispose() => Finish();

    private void Draw(long value)
    {
        var total = Total;
        var fraction = total == 0 ? 1 : Math.Min(1, (double)value / total);
        const int width = 30;
        var filled = (int)(fraction * width);
        var rate = value / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        Console.Error.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {fraction * 100,5:0.0}%  {Sizes.Format(value)} / {Sizes.Format(total)}  {Sizes.Format((long)rate)}/s ");
    }
}
