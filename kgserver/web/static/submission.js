// A submission's page: a signed-in curator (token in sessionStorage, see curate.js) may retract it, after a confirmation.
const TOKEN_KEY = "ldnkg-curator-token";
const section = document.querySelector("section.submission");
const controls = document.querySelector(".retract-controls");
const token = sessionStorage.getItem(TOKEN_KEY);

if (section && controls && token) {
  controls.hidden = false;
  document.getElementById("retract").addEventListener("click", async () => {
    const id = section.dataset.submission.split("/").pop();
    if (!window.confirm(`Retract submission ${id}? Its triples leave the dataset; its record stays.`)) return;
    const reply = await fetch(`/submissions/${encodeURIComponent(id)}`, {
      method: "DELETE", headers: {Authorization: `Bearer ${token}`, Accept: "application/json"},
    });
    if (reply.ok) {
      window.location.reload();
      return;
    }
    document.getElementById("retract-error").textContent = `Not retracted (${reply.status}): ${await reply.text()}`;
  });
}
