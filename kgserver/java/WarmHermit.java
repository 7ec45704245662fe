// A HermiT that stays warm: one JVM answers many consistency checks over stdin/stdout.
//
// Protocol (UTF-8, one request at a time; every reply is one line):
//   BASE <bytes>\n<N-Triples>   load the ontology the next checks import     -> OK | ERROR <message>
//   CHECK <bytes>\n<N-Triples>  is the base ontology plus these triples consistent?
//                               -> CONSISTENT | INCONSISTENT | NOBASE | ERROR <message>
// The checked triples are parsed as an ontology that imports the base, so the base's
// declarations (which property is an object property...) apply to them, and the base is
// parsed once however many checks follow. Nothing but replies is written to stdout.

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.semanticweb.HermiT.Configuration;
import org.semanticweb.HermiT.Reasoner;
import org.semanticweb.owlapi.apibinding.OWLManager;
import org.semanticweb.owlapi.io.StringDocumentSource;
import org.semanticweb.owlapi.model.IRI;
import org.semanticweb.owlapi.model.OWLOntology;
import org.semanticweb.owlapi.model.OWLOntologyManager;

public final class WarmHermit {
    private static final String OWL = "http://www.w3.org/2002/07/owl#";
    private static final String RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";

    private final OWLOntologyManager manager = OWLManager.createOWLOntologyManager();
    private OWLOntology base;
    private IRI baseIri;
    private long checks;

    public static void main(String[] args) throws IOException {
        PrintStream replies = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err); // libraries' chatter must not reach the protocol channel
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in, 1 << 16));
        WarmHermit hermit = new WarmHermit();
        replies.println("READY");
        String header;
        while ((header = readLine(in)) != null) {
            String[] parts = header.trim().split(" ");
            if (parts.length != 2) {
                replies.println("ERROR malformed request header: " + header);
                continue;
            }
            byte[] body = new byte[Integer.parseInt(parts[1])];
            in.readFully(body);
            String text = new String(body, StandardCharsets.UTF_8);
            replies.println(hermit.answer(parts[0], text));
        }
    }

    private String answer(String command, String text) {
        try {
            if (command.equals("BASE")) {
                return loadBase(text);
            }
            if (command.equals("CHECK")) {
                return check(text);
            }
            return "ERROR unknown command " + command;
        } catch (Throwable error) {
            return "ERROR " + oneLine(error);
        }
    }

    private String loadBase(String ntriples) throws Exception {
        if (base != null) {
            manager.removeOntology(base);
            base = null;
        }
        baseIri = IRI.create("urn:kgserver:hermit:base:" + System.nanoTime());
        String header = "<" + baseIri + "> <" + RDF_TYPE + "> <" + OWL + "Ontology> .\n";
        base = manager.loadOntologyFromOntologyDocument(new StringDocumentSource(header + ntriples));
        return "OK";
    }

    private String check(String ntriples) throws Exception {
        if (base == null) {
            return "NOBASE";
        }
        IRI checkIri = IRI.create("urn:kgserver:hermit:check:" + (++checks));
        String header = "<" + checkIri + "> <" + RDF_TYPE + "> <" + OWL + "Ontology> .\n"
                + "<" + checkIri + "> <" + OWL + "imports> <" + baseIri + "> .\n";
        OWLOntology ontology = manager.loadOntologyFromOntologyDocument(new StringDocumentSource(header + ntriples));
        try {
            Reasoner reasoner = new Reasoner(new Configuration(), ontology);
            try {
                return reasoner.isConsistent() ? "CONSISTENT" : "INCONSISTENT";
            } finally {
                reasoner.dispose();
            }
        } finally {
            manager.removeOntology(ontology);
        }
    }

    private static String oneLine(Throwable error) {
        String message = error.getClass().getName() + ": " + error.getMessage();
        message = message.replaceAll("\\s+", " ");
        return message.length() > 400 ? message.substring(0, 400) : message;
    }

    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) != -1 && b != '\n') {
            line.write(b);
        }
        if (b == -1 && line.size() == 0) {
            return null;
        }
        return line.toString("UTF-8");
    }
}
