// The Java workload of the USDT tool specs: prints "ready PID", then for each line on stdin
// "calls N" calls Work.tick N times, "threads N" starts and joins N threads named
// bpflua-worker-I, "gc N" runs System.gc() N times; each prints "done" when finished.
import java.io.BufferedReader;
import java.io.InputStreamReader;

public class Work {
	static long sum;

	static void tick(int i) {
		sum += i;
	}

	public static void main(String[] args) throws Exception {
		System.out.println("ready " + ProcessHandle.current().pid());
		BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
		String line;
		while ((line = in.readLine()) != null) {
			String[] words = line.trim().split(" ");
			int n = Integer.parseInt(words[1]);
			if (words[0].equals("calls")) {
				for (int i = 0; i < n; i++)
					tick(i);
			} else if (words[0].equals("threads")) {
				for (int i = 0; i < n; i++) {
					Thread t = new Thread(() -> sum++, "bpflua-worker-" + i);
					t.start();
					t.join();
				}
			} else if (words[0].equals("gc")) {
				for (int i = 0; i < n; i++)
					System.gc();
			}
			System.out.println("done");
		}
	}
}
