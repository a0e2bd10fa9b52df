// HdrHistogram's own Java library as the reference reader of troupe's files
// (tests/runtime/hdr_reader/CMakeLists.txt runs it). It prints, in the same
// text format as hdr_log_writer.cpp, what HdrHistogram makes of them:
//
//   java HdrLogReader read LOG      every interval of LOG and their sum
//   java HdrLogReader layout FILE   for each "lowest highest digits" line of
//                                   FILE, the layout HdrHistogram derives
//   java HdrLogReader write LOG     writes a small log with HdrHistogram's
//                                   own writer (the fixture of
//                                   histogram_log_test.cpp) and prints it
//
// Figures are printed as HdrHistogram reports them; the C++ side prints its
// own figures mapped the same way (a value as the lowest value equivalent to
// it, a double as its IEEE bits), so equal text means equal figures.

import java.io.*;
import java.util.*;
import org.HdrHistogram.*;

public class HdrLogReader {
    static final double[] PERCENTILES = {0.0, 1.0, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0};

    static void print(PrintStream out, Histogram h) {
        out.println("layout " + h.getLowestDiscernibleValue() + " " + h.getHighestTrackableValue() + " "
                + h.getNumberOfSignificantValueDigits());
        out.println("count " + h.getTotalCount());
        if (h.getTotalCount() > 0) {
            out.println("min " + h.lowestEquivalentValue(h.getMinValue()));
            out.println("max " + h.lowestEquivalentValue(h.getMaxValue()));
        }
        out.println("mean_bits " + Double.doubleToLongBits(h.getMean()));
        out.println("stddev_bits " + Double.doubleToLongBits(h.getStdDeviation()));
        for (double p : PERCENTILES) {
            out.println("p " + String.format(Locale.US, "%.3f", p) + " "
                    + (h.getTotalCount() > 0 ? h.lowestEquivalentValue(h.getValueAtPercentile(p)) : 0));
        }
        for (HistogramIterationValue v : h.recordedValues()) {
            out.println("slot " + h.lowestEquivalentValue(v.getValueIteratedTo()) + " " + v.getCountAtValueIteratedTo());
        }
    }

    static void read(String path) throws IOException {
        PrintStream out = System.out;
        HistogramLogReader reader = new HistogramLogReader(path);
        Histogram sum = null;
        int i = 0;
        EncodableHistogram e;
        while ((e = reader.nextIntervalHistogram()) != null) {
            Histogram h = (Histogram) e;
            out.println("interval " + i++ + " tag=" + (h.getTag() == null ? "-" : h.getTag()) + " start_ms="
                    + h.getStartTimeStamp() + " end_ms=" + h.getEndTimeStamp());
            print(out, h);
            if (sum == null) {
                sum = new Histogram(h.getLowestDiscernibleValue(), h.getHighestTrackableValue(),
                        h.getNumberOfSignificantValueDigits());
            }
            sum.add(h);
        }
        reader.close();
        out.println("intervals " + i);
        if (sum != null) {
            out.println("sum");
            print(out, sum);
        }
    }

    static void layout(String path) throws IOException {
        BufferedReader in = new BufferedReader(new FileReader(path));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.trim().split(" ");
            long lowest = Long.parseLong(f[0]);
            long highest = Long.parseLong(f[1]);
            int digits = Integer.parseInt(f[2]);
            Histogram h = new Histogram(lowest, highest, digits);
            int countsLength = (h.getNeededByteBufferCapacity() - 40) / 9;
            System.out.println(lowest + " " + highest + " " + digits + " slots " + countsLength + " unit "
                    + h.sizeOfEquivalentValueRange(0) + " top " + h.lowestEquivalentValue(highest));
        }
        in.close();
    }

    static void write(String path) throws IOException {
        HistogramLogWriter w = new HistogramLogWriter(path);
        w.outputLogFormatVersion();
        w.outputStartTime(1764266400000L);
        w.outputBaseTime(1764266400000L);
        w.outputLegend();
        Histogram a = new Histogram(1, 3600000000000L, 3);
        for (long v = 1; v <= 1000; v++) a.recordValue(v);
        a.recordValueWithCount(123456789L, 7);
        w.outputIntervalHistogram(0.0, 1.0, a);
        Histogram b = new Histogram(1000, 3600000000000L, 2);
        b.recordValueWithCount(5000, 300);
        b.recordValue(42);
        b.setTag("db");
        w.outputIntervalHistogram(1.0, 2.5, b);
        w.close();
        print(System.out, a);
        print(System.out, b);
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 2 && args[0].equals("read")) read(args[1]);
        else if (args.length == 2 && args[0].equals("layout")) layout(args[1]);
        else if (args.length == 2 && args[0].equals("write")) write(args[1]);
        else {
            System.err.println("usage: HdrLogReader read LOG | layout FILE | write LOG");
            System.exit(2);
        }
    }
}
